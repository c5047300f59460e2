// Live "expires in" countdowns on the flow inspector: every element with a
// data-expires attribute (unix seconds) is updated once a second. This
// script reads no token and talks to no server.
function tick() {
  const now = Date.now() / 1000;
  for (const el of document.querySelectorAll("[data-expires]")) {
    const s = Math.round(Number(el.dataset.expires) - now);
    el.textContent = s > 0 ? `expires in ${s} s` : `expired ${-s} s ago`;
    el.classList.toggle("expired", s <= 0);
  }
}
tick();
setInterval(tick, 1000);
