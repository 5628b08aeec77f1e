/** Entry for workerd (Miniflare): any request runs the smoke suite and answers its result as JSON. */
import { runSmoke } from "./smoke.js";

export default {
  async fetch(): Promise<Response> {
    return Response.json(await runSmoke());
  },
};
