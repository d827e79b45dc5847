// The pack station with htmx: once a scan's value is on its way, the field is emptied for the next code, so a
// scanner may keep sending while the page answers (htmx queues the scans: hx-sync="this:queue all").
document.addEventListener("htmx:configRequest", (event) => {
  const form = event.detail.elt.closest ? event.detail.elt.closest("#scan-form") : null;
  if (form) form.querySelector("#code").value = "";
});
