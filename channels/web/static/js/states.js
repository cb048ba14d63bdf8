// Receipt states as the hub defines them (channels/notices/states.py), filled once at
// boot from `receipt_states` of GET /api/web/config: the page keeps no copy of its own.
export const RANK = {}; // state -> rank (higher is further along)
export const SHORT = {}; // a dashboard column: 未送达, 已送达, 已读, 已签收
export const LEGEND = {}; // the dashboard's legend: what is still to come
export const INBOX = {}; // the member's own view of a notice
export const STATES = []; // furthest first: the dashboard's order

export function setReceiptStates(list) {
  STATES.length = 0;
  for (const st of [...list].sort((a, b) => b.rank - a.rank)) {
    RANK[st.state] = st.rank;
    SHORT[st.state] = st.short;
    LEGEND[st.state] = st.legend;
    INBOX[st.state] = st.inbox;
    STATES.push(st.state);
  }
}

// The state at which a recipient is done with a notice: 签收 when it asks for one.
export const doneState = (requireAck) => (requireAck ? 'acked' : 'read');

// Whether `state` is still short of being done with a notice.
export const unsignedState = (state, requireAck) => RANK[state] < RANK[doneState(requireAck)];
