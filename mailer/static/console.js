// The console's one script, served by the gateway: times in the browser's time zone, a copy
// button for what is shown once, the overview's self-refresh, and the search's time zone.
"use strict";
(function () {
  for (const t of document.querySelectorAll("time[datetime]")) {
    const at = new Date(t.getAttribute("datetime"));
    if (!isNaN(at)) {
      t.textContent = at.toLocaleString(undefined, { dateStyle: "medium", timeStyle: "short" });
    }
  }
  for (const tz of document.querySelectorAll("input[name=tz]")) {
    tz.value = String(new Date().getTimezoneOffset());
  }
  for (const button of document.querySelectorAll("button[data-copy]")) {
    button.hidden = false;
    button.addEventListener("click", function () {
      const field = document.getElementById(button.getAttribute("data-copy"));
      field.select();
      navigator.clipboard.writeText(field.value).then(function () {
        button.textContent = "Copied";
      });
    });
  }
  const refresh = document.body.getAttribute("data-refresh");
  if (refresh) {
    setInterval(function () {
      const busy = document.activeElement && document.activeElement.matches("input, select, textarea");
      if (document.visibilityState === "visible" && !busy) {
        location.reload();
      }
    }, Number(refresh) * 1000);
  }
})();
