// fieldsync console: live board over Server-Sent Events, the routing suggestion on the
// new-ticket form, a "changed" banner on a ticket's page, and confirmations. No build step.
"use strict";

(function () {
  function liveBoard(board) {
    var state = document.getElementById("live-state");
    // The page's own words for the live state (the server renders them in the user's language).
    function words(attribute, fallback) {
      return (state && state.getAttribute(attribute)) || fallback;
    }
    var url = board.getAttribute("data-columns");
    var timer = null;
    var inFlight = false;
    var again = false;
    function refresh() {
      if (inFlight) { again = true; return; }
      inFlight = true;
      fetch(url, { credentials: "same-origin", headers: { Accept: "text/html" } })
        .then(function (r) { if (!r.ok) { throw new Error("HTTP " + r.status); } return r.text(); })
        .then(function (html) {
          board.innerHTML = html;
          board.setAttribute("data-refreshed", String(Date.now()));
        })
        .catch(function (e) { if (state) { state.textContent = words("data-failed", "refresh failed") + ": " + e.message; } })
        .then(function () {
          inFlight = false;
          if (again) { again = false; refresh(); }
        });
    }
    function soon() {
      // Changes come in bursts (one sync, many tickets): one refresh per burst.
      clearTimeout(timer);
      timer = setTimeout(refresh, 80);
    }
    var source = new EventSource("/console/events");
    source.onopen = function () {
      if (state) { state.textContent = words("data-on", "live"); state.className = "live on"; }
      board.setAttribute("data-live", "1");
    };
    source.onerror = function () {
      if (state) { state.textContent = words("data-off", "reconnecting…"); state.className = "live off"; }
    };
    source.addEventListener("ticket", soon);
    source.addEventListener("lagged", soon);
    // SLA clocks move with time, not only with changes.
    setInterval(refresh, 30000);
  }

  function ticketPage(ticket) {
    var id = ticket.getAttribute("data-id");
    var banner = document.getElementById("changed");
    var source = new EventSource("/console/events");
    // The customer's messages and rating are swapped in live; the rest waits for a reload.
    function refreshCustomer() {
      fetch(window.location.pathname, { credentials: "same-origin", headers: { Accept: "text/html" } })
        .then(function (r) { return r.ok ? r.text() : null; })
        .then(function (html) {
          if (!html) { return; }
          var fresh = new DOMParser().parseFromString(html, "text/html");
          ["customer-messages", "customer-rating"].forEach(function (part) {
            var now = document.getElementById(part);
            var next = fresh.getElementById(part);
            if (now && next) { now.innerHTML = next.innerHTML; }
          });
          var none = document.getElementById("no-customer-messages");
          if (none && !fresh.getElementById("no-customer-messages")) { none.hidden = true; }
        });
    }
    // The change sequence the page was rendered at: an event for a change already shown (one
    // published while the page loaded, or delivered late by another instance) is not news.
    var shown = Number(ticket.getAttribute("data-seq") || "0");
    source.addEventListener("ticket", function (e) {
      try {
        var change = JSON.parse(e.data);
        if (change.id === id && !(Number(change.seq) <= shown)) {
          if (banner) { banner.hidden = false; }
          refreshCustomer();
        }
      } catch (_) { /* not ours */ }
    });
  }

  function suggestion(input) {
    var select = document.getElementById("assignee");
    var who = document.getElementById("suggested-engineer");
    var why = document.getElementById("suggested-why");
    var timer = null;
    function ask() {
      var url = input.getAttribute("data-suggest") + "?customer=" + encodeURIComponent(input.value);
      fetch(url, { credentials: "same-origin" })
        .then(function (r) { return r.ok ? r.json() : null; })
        .then(function (s) {
          if (!s) { return; }
          who.textContent = s.engineer;
          why.textContent = s.why;
          if (s.engineer && select) { select.value = s.engineer; }
          input.setAttribute("data-suggested", s.engineer);
        });
    }
    input.addEventListener("input", function () { clearTimeout(timer); timer = setTimeout(ask, 200); });
    input.addEventListener("change", ask);
  }

  function confirmations() {
    document.querySelectorAll("form[data-confirm]").forEach(function (form) {
      form.addEventListener("submit", function (e) {
        if (!window.confirm(form.getAttribute("data-confirm"))) { e.preventDefault(); }
      });
    });
  }

  document.addEventListener("DOMContentLoaded", function () {
    var board = document.getElementById("board");
    if (board) { liveBoard(board); }
    var ticket = document.getElementById("ticket");
    if (ticket) { ticketPage(ticket); }
    var customer = document.getElementById("customer");
    if (customer) { suggestion(customer); }
    confirmations();
  });
})();
