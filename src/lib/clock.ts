/**
 * The one clock type every option takes.
 *
 * @module
 */

/**
 * A clock: the current time in milliseconds since the Unix epoch, like `Date.now`. Every `clock`
 * option (validators, key sets, stores, sessions, DPoP, token exchange) takes one, so a test can
 * move time without sleeping. Components that only measure intervals read differences between two
 * readings; the epoch origin is what the ones that compare with token claims (`exp`, `iat`) need.
 */
export type Clock = () => number;
