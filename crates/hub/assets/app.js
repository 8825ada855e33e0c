// Live updates: count new alerts from the server-sent event stream and show them in the nav.
(function () {
  if (!window.EventSource) return;
  var n = 0, badge = document.getElementById("live");
  var es = new EventSource("/api/v1/stream/alerts");
  es.addEventListener("alert", function () {
    n += 1;
    if (badge) { badge.textContent = "+" + n; badge.title = n + " new alert(s) since this page loaded; reload to see them"; }
  });
})();
