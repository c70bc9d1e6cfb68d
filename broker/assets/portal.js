// idbroker's pages: tabs, copy buttons, local times and countdowns, and
// wiping shown secrets when the page is left. Every page works without it:
// the formats are then listed one after another and the keys can be
// selected by hand.
(function () {
  "use strict";

  var formatKey = "idbroker.format";

  function remembered() {
    try { return window.localStorage.getItem(formatKey); } catch (e) { return null; }
  }
  function remember(kind) {
    try { window.localStorage.setItem(formatKey, kind); } catch (e) { /* private mode */ }
  }

  // Tabs: each [data-tabs] holds .panel sections with a .panel-title; they
  // become a tab list (arrow keys, Home and End move between tabs). The
  // choice of format is kept for every card and the next visit.
  function kindOf(panel) { return panel.id.replace(/^c\d+-/, ""); }

  function select(container, kind, focus) {
    var tabs = container.querySelectorAll("[role=tab]");
    for (var i = 0; i < tabs.length; i++) {
      var tab = tabs[i], on = tab.getAttribute("data-kind") === kind;
      tab.setAttribute("aria-selected", on ? "true" : "false");
      tab.tabIndex = on ? 0 : -1;
      document.getElementById(tab.getAttribute("aria-controls")).hidden = !on;
      if (on && focus) { tab.focus(); }
    }
  }

  function selectEverywhere(kind) {
    var all = document.querySelectorAll(".tabs-ready");
    for (var i = 0; i < all.length; i++) {
      if (all[i].querySelector('[role=tab][data-kind="' + kind + '"]')) { select(all[i], kind, false); }
    }
  }

  function setUpTabs(container) {
    var panels = container.querySelectorAll(":scope > .panel");
    if (panels.length < 2) { return; }
    var list = document.createElement("div");
    list.className = "tablist";
    list.setAttribute("role", "tablist");
    list.setAttribute("aria-label", "Formats");
    for (var i = 0; i < panels.length; i++) {
      var panel = panels[i], title = panel.querySelector(".panel-title");
      var tab = document.createElement("button");
      tab.type = "button";
      tab.className = "tab";
      tab.id = panel.id + "-tab";
      tab.setAttribute("role", "tab");
      tab.setAttribute("aria-controls", panel.id);
      tab.setAttribute("data-kind", kindOf(panel));
      tab.textContent = title ? title.textContent : panel.id;
      panel.setAttribute("role", "tabpanel");
      panel.setAttribute("aria-labelledby", tab.id);
      list.appendChild(tab);
    }
    container.insertBefore(list, container.firstChild);
    container.classList.add("tabs-ready");
    list.addEventListener("click", function (ev) {
      var tab = ev.target.closest("[role=tab]");
      if (!tab) { return; }
      remember(tab.getAttribute("data-kind"));
      selectEverywhere(tab.getAttribute("data-kind"));
    });
    list.addEventListener("keydown", function (ev) {
      var tabs = Array.prototype.slice.call(list.querySelectorAll("[role=tab]"));
      var at = tabs.indexOf(document.activeElement), next = -1;
      if (at < 0) { return; }
      if (ev.key === "ArrowRight") { next = (at + 1) % tabs.length; }
      if (ev.key === "ArrowLeft") { next = (at - 1 + tabs.length) % tabs.length; }
      if (ev.key === "Home") { next = 0; }
      if (ev.key === "End") { next = tabs.length - 1; }
      if (next < 0) { return; }
      ev.preventDefault();
      var kind = tabs[next].getAttribute("data-kind");
      remember(kind);
      select(container, kind, true);
      selectEverywhere(kind);
      tabs[next].focus();
    });
    var want = remembered();
    var first = kindOf(panels[0]);
    if (!want || !container.querySelector('[role=tab][data-kind="' + want + '"]')) { want = first; }
    select(container, want, false);
  }

  // Copy buttons: [data-copy] names the element whose text is copied.
  var live;
  function announce(text) {
    if (!live) {
      live = document.createElement("span");
      live.className = "visually-hidden";
      live.setAttribute("aria-live", "polite");
      document.body.appendChild(live);
    }
    live.textContent = "";
    window.setTimeout(function () { live.textContent = text; }, 50);
  }

  function copyText(text) {
    if (navigator.clipboard && window.isSecureContext) {
      return navigator.clipboard.writeText(text);
    }
    return new Promise(function (resolve, reject) {
      var area = document.createElement("textarea");
      area.value = text;
      area.setAttribute("readonly", "");
      area.className = "visually-hidden";
      document.body.appendChild(area);
      area.select();
      var ok = false;
      try { ok = document.execCommand("copy"); } catch (e) { ok = false; }
      document.body.removeChild(area);
      if (ok) { resolve(); } else { reject(new Error("copy refused")); }
    });
  }

  function setUpCopy(button) {
    var source = document.getElementById(button.getAttribute("data-copy"));
    if (!source) { return; }
    var label = button.firstChild.nodeValue;
    button.hidden = false;
    button.addEventListener("click", function () {
      copyText(source.textContent).then(function () {
        button.firstChild.nodeValue = "Copied";
        button.classList.add("done");
        announce("Copied to the clipboard");
        window.setTimeout(function () {
          button.firstChild.nodeValue = label;
          button.classList.remove("done");
        }, 2000);
      }, function () {
        // The browser refused: select the text for a manual copy.
        var range = document.createRange();
        range.selectNodeContents(source);
        var sel = window.getSelection();
        sel.removeAllRanges();
        sel.addRange(range);
        announce("Press Ctrl+C or Cmd+C to copy the selected text");
      });
    });
  }

  // Times: <time class="local-time" datetime="…Z"> shows the person's local
  // time (UTC stays in the title); .countdown[data-until] counts down.
  function localTime(el) {
    var at = new Date(el.getAttribute("datetime"));
    if (isNaN(at.getTime())) { return; }
    var now = new Date(), opts = { hour: "2-digit", minute: "2-digit", timeZoneName: "short" };
    if (at.toDateString() !== now.toDateString()) {
      opts.weekday = "short"; opts.day = "numeric"; opts.month = "short";
    }
    try {
      el.textContent = new Intl.DateTimeFormat(undefined, opts).format(at);
    } catch (e) {
      el.textContent = at.toLocaleString();
    }
  }

  function left(ms) {
    if (ms <= 0) { return " (expired)"; }
    var s = Math.floor(ms / 1000), h = Math.floor(s / 3600), m = Math.floor((s % 3600) / 60);
    if (h > 0) { return " (in " + h + " h " + m + " min)"; }
    return " (in " + m + " min " + (s % 60) + " s)";
  }

  function tick(els) {
    var now = Date.now();
    for (var i = 0; i < els.length; i++) {
      var until = Date.parse(els[i].getAttribute("data-until"));
      if (!isNaN(until)) {
        els[i].textContent = left(until - now);
        els[i].classList.toggle("expired", until <= now);
      }
    }
  }

  // Secrets are shown once: when the page is left, they are wiped, so that
  // the browser's back-forward cache cannot show them again; a page
  // restored from that cache is fetched anew (the broker then says they
  // were shown once, or offers a fresh form).
  window.addEventListener("pagehide", function () {
    var secrets = document.querySelectorAll("[data-secret]");
    for (var i = 0; i < secrets.length; i++) { secrets[i].textContent = ""; }
  });
  window.addEventListener("pageshow", function (ev) {
    if (ev.persisted && document.querySelector("[data-secret], input[name=choice]")) {
      window.location.reload();
    }
  });

  function start() {
    var i, tabs = document.querySelectorAll("[data-tabs]");
    for (i = 0; i < tabs.length; i++) { setUpTabs(tabs[i]); }
    var buttons = document.querySelectorAll("button[data-copy]");
    for (i = 0; i < buttons.length; i++) { setUpCopy(buttons[i]); }
    var times = document.querySelectorAll("time.local-time");
    for (i = 0; i < times.length; i++) { localTime(times[i]); }
    var counters = document.querySelectorAll(".countdown[data-until]");
    if (counters.length) {
      tick(counters);
      window.setInterval(function () { tick(counters); }, 1000);
    }
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", start);
  } else {
    start();
  }
}());
