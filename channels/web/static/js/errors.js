// The error a hub request fails with: the protocol's error code and message, or
// OFFLINE for a request cut short by a lost connection.

export const OFFLINE = -1; // error code of a request cut short by a lost connection

export class HubError extends Error {
  constructor(code, message) { super(message); this.code = code; }
}
