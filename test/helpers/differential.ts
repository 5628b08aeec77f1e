/**
 * How many cases a differential test runs: 8,000 under `npm test` (every mutation class is drawn
 * many times over); `.ci/run` runs the differential tests again with `DIFFERENTIAL_CASES=50000`.
 */
export function differentialCases(): number {
  const total = Number(process.env.DIFFERENTIAL_CASES ?? 8_000);
  if (!Number.isSafeInteger(total) || total < 1000)
    throw new Error(`DIFFERENTIAL_CASES must be an integer >= 1000, got ${process.env.DIFFERENTIAL_CASES}`);
  return total;
}
