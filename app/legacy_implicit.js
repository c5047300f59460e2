// The implicit grant's landing page (lab mode): ImageHost's redirect put
// its answer in this page's URL fragment, after "#", which the browser never
// sends to a server. So this script, the app's own, reads location.hash,
// shows what it found, and hands it to the app's server with the page's
// form. Every client of the implicit grant had to do this; any other script
// on the page can read the same (analytics.js does).
const fragment = location.hash.slice(1);
const table = document.getElementById("fragment-params");
for (const [name, value] of new URLSearchParams(fragment)) {
  const row = table.insertRow();
  const th = document.createElement("th");
  th.textContent = name;
  row.append(th);
  row.insertCell().textContent =
    name === "access_token" ? `${value.slice(0, 12)}… (${value.length} characters)` : value;
}
if (fragment === "") {
  document.getElementById("fragment-missing").hidden = false;
} else {
  document.getElementById("fragment").value = fragment;
  document.getElementById("use-token").disabled = false;
}
