// The customer's tracking page: live over Server-Sent Events (no reload), and the message and
// rating forms sent without leaving the page. Every text goes in with textContent: nothing the
// server sends is parsed as HTML. No build step.
"use strict";

(function () {
  var root = document.getElementById("track");
  if (!root) { return; }
  var token = root.getAttribute("data-token");
  var base = "/t/" + token;
  var live = document.getElementById("live");

  function el(tag, cls, text) {
    var node = document.createElement(tag);
    if (cls) { node.className = cls; }
    if (text !== undefined && text !== null) { node.textContent = text; }
    return node;
  }
  function show(id, visible) { var n = document.getElementById(id); if (n) { n.hidden = !visible; } }
  function text(id, value) { var n = document.getElementById(id); if (n) { n.textContent = value || ""; } }

  function render(v) {
    show("cancelled", v.cancelled);
    var steps = document.getElementById("steps");
    steps.textContent = "";
    v.steps.forEach(function (s) {
      var li = el("li", (s.done ? "done" : "") + (s.current ? " current" : ""));
      li.setAttribute("data-key", s.key);
      li.appendChild(el("span", "label", s.label));
      li.appendChild(document.createTextNode(" "));
      li.appendChild(el("time", "", s.at));
      steps.appendChild(li);
    });
    show("engineer", !!v.engineer);
    text("engineer-name", v.engineer);
    show("eta", !!v.eta);
    text("eta-time", v.eta);
    var promises = document.getElementById("promises");
    promises.textContent = "";
    v.promises.forEach(function (p) { promises.appendChild(el("li", "", p)); });
    show("rate", v.can_rate);
    show("rated", v.rating !== null && v.rating !== undefined);
    text("rating", v.rating === null || v.rating === undefined ? "" : String(v.rating));
    var list = document.getElementById("conversation");
    list.textContent = "";
    v.conversation.forEach(function (line) {
      var li = el("li", line.mine ? "mine" : "theirs");
      li.appendChild(el("span", "who", line.who));
      li.appendChild(document.createTextNode(" "));
      li.appendChild(el("time", "", line.at));
      li.appendChild(el("p", "", line.text));
      list.appendChild(li);
    });
    show("no-messages", v.conversation.length === 0);
    show("message-form", v.can_message);
    show("report", v.steps.some(function (s) { return s.key === "completed" && s.done; }));
    root.setAttribute("data-updated", String(Date.now()));
  }

  function connect() {
    var lang = root.getAttribute("data-lang");
    var source = new EventSource(base + "/events?lang=" + encodeURIComponent(lang));
    source.onopen = function () {
      live.textContent = live.getAttribute("data-live");
      live.className = "live on";
      root.setAttribute("data-live", "1");
    };
    source.onerror = function () {
      live.textContent = live.getAttribute("data-offline");
      live.className = "live off";
    };
    source.addEventListener("state", function (e) {
      try { render(JSON.parse(e.data)); } catch (_) { /* a broken frame: the next one mends it */ }
    });
  }

  function post(form, after) {
    form.addEventListener("submit", function (e) {
      e.preventDefault();
      var body = new URLSearchParams(new FormData(form));
      fetch(form.getAttribute("action"), {
        method: "POST",
        headers: { Accept: "application/json", "Content-Type": "application/x-www-form-urlencoded" },
        body: body,
      })
        .then(function (r) { return r.json().catch(function () { return { error: "HTTP " + r.status }; }); })
        .then(function (answer) { after(answer); });
    });
  }

  var messageForm = document.getElementById("message-form");
  var status = document.getElementById("message-status");
  post(messageForm, function (answer) {
    if (answer.ok) {
      messageForm.reset();
      status.textContent = status.getAttribute("data-sent");
    } else {
      status.textContent = answer.error || "";
    }
  });
  post(document.getElementById("rate-form"), function (answer) {
    if (!answer.ok) { text("rated", answer.error); show("rated", true); }
  });
  connect();
})();
