// Backbeat dashboard: small progressive enhancements. Every page works without this file.
// - Every <time data-local> is shown by the server in a named zone ("09:00 Europe/London");
//   when the viewer's own clock reads differently, this adds their time beside it, labelled
//   with the browser's zone ("(your time: Thu 8 Jan 2026, 10:00 Europe/Paris)").
// - The task form previews a schedule's description and next fire times as it is typed.
// - A wide table's scroll container says that it scrolls, when it does.
// - A run that can still change polls its status every 2 s and reloads when it changes.
// - A signing secret shown once can be copied with a button.
// Text is only ever set with textContent: nothing from the server is parsed as HTML.
"use strict";

(function () {
  var yourZone = (function () {
    try {
      return Intl.DateTimeFormat().resolvedOptions().timeZone || "";
    } catch (error) {
      return "";
    }
  })();

  function formatter(seconds, zone) {
    var options = {
      weekday: "short",
      day: "numeric",
      month: "short",
      year: "numeric",
      hour: "2-digit",
      minute: "2-digit",
      hourCycle: "h23",
    };
    if (seconds) {
      options.second = "2-digit";
    }
    if (zone) {
      options.timeZone = zone;
    }
    return new Intl.DateTimeFormat(undefined, options);
  }

  function readsTheSame(instant, zone, seconds) {
    // Whether the viewer's clock shows the same date and time as the zone's, at that instant.
    try {
      return formatter(seconds, zone).format(instant) === formatter(seconds).format(instant);
    } catch (error) {
      return false; // a zone this browser does not know: show the viewer's time
    }
  }

  function localize(root) {
    root.querySelectorAll("time[data-local]:not([data-localized])").forEach(function (element) {
      element.setAttribute("data-localized", "");
      var instant = new Date(element.getAttribute("datetime"));
      var zone = element.getAttribute("data-zone") || "UTC";
      var seconds = element.hasAttribute("data-seconds");
      if (!yourZone || isNaN(instant.getTime()) || readsTheSame(instant, zone, seconds)) {
        return;
      }
      var note = document.createElement("span");
      note.className = "your-time";
      note.setAttribute("data-your-time", "");
      note.textContent =
        " (your time: " + formatter(seconds).format(instant) + " " + yourZone + ")";
      element.after(note);
    });
  }

  function timeElement(iso, text, zone, utcText) {
    var element = document.createElement("time");
    element.setAttribute("datetime", iso);
    element.setAttribute("title", utcText);
    element.setAttribute("data-zone", zone);
    element.setAttribute("data-local", "");
    element.textContent = text;
    return element;
  }

  function getJson(url) {
    return fetch(url, {
      credentials: "same-origin",
      cache: "no-store",
      headers: { Accept: "application/json" },
    }).then(function (response) {
      if (response.status === 401) {
        throw new Error("signed out");
      }
      return response.json();
    });
  }

  function previewSchedule(form) {
    var url = form.getAttribute("data-preview-url");
    var schedule = form.querySelector("[name=schedule]");
    var zone = form.querySelector("[name=timezone]");
    var box = form.querySelector("#schedule-preview");
    if (!url || !schedule || !zone || !box) {
      return;
    }
    var description = box.querySelector("[data-preview=description]");
    var zoneText = box.querySelector("[data-preview=zone]");
    var error = box.querySelector("[data-preview=error]");
    var upcoming = box.querySelector("[data-preview=upcoming]");
    var timer = null;
    var latest = 0;

    function show(body) {
      upcoming.replaceChildren();
      schedule.removeAttribute("aria-invalid");
      zone.removeAttribute("aria-invalid");
      if (body.ok) {
        description.textContent = body.description;
        zoneText.textContent = "(" + body.timezone + ")";
        error.textContent = "";
        error.hidden = true;
        body.upcoming.forEach(function (iso, index) {
          var item = document.createElement("li");
          var text = body.upcoming_text[index];
          item.appendChild(timeElement(iso, text, body.timezone, body.upcoming_utc[index]));
          upcoming.appendChild(item);
        });
        localize(upcoming);
      } else {
        description.textContent = "";
        zoneText.textContent = "";
        error.textContent = body.error;
        error.hidden = false;
        (body.field === "timezone" ? zone : schedule).setAttribute("aria-invalid", "true");
      }
    }

    function update() {
      var mine = ++latest;
      var query = new URLSearchParams({ schedule: schedule.value, timezone: zone.value });
      getJson(url + "?" + query.toString())
        .then(function (body) {
          if (mine === latest) {
            show(body);
          }
        })
        .catch(function () {});
    }

    function soon() {
      window.clearTimeout(timer);
      timer = window.setTimeout(update, 250);
    }

    schedule.addEventListener("input", soon);
    zone.addEventListener("input", soon);
    zone.addEventListener("change", soon);
  }

  function pollRun(element) {
    var url = element.getAttribute("data-poll-url");
    var status = element.getAttribute("data-status");
    var attempts = element.getAttribute("data-attempts");
    var timer = window.setInterval(function () {
      getJson(url)
        .then(function (body) {
          if (body.status !== status || String(body.attempts) !== attempts) {
            window.clearInterval(timer);
            window.location.replace(window.location.pathname);
          }
        })
        .catch(function () {
          window.clearInterval(timer);
        });
    }, 2000);
  }

  function scrollHint(wrap) {
    // The hint before a wide table shows only while the table is wider than its box.
    var hint = document.getElementById(wrap.getAttribute("data-scroll-hint"));
    if (!hint) {
      return;
    }
    function check() {
      var scrolls = wrap.scrollWidth > wrap.clientWidth + 1;
      hint.hidden = !scrolls;
      wrap.toggleAttribute("data-scrolls", scrolls);
    }
    check();
    window.addEventListener("resize", check);
  }

  function copyButton(button) {
    // A button that copies a field's text (a signing secret shown once), where the browser
    // lets a page write to the clipboard; otherwise the field's text is selected to copy.
    var field = document.getElementById(button.getAttribute("data-copy"));
    var status = document.getElementById(button.getAttribute("data-copy-status"));
    if (!field || !status || !navigator.clipboard) {
      return;
    }
    button.hidden = false;
    button.addEventListener("click", function () {
      navigator.clipboard.writeText(field.value).then(
        function () {
          status.textContent = "Copied.";
        },
        function () {
          field.focus();
          field.select();
          status.textContent = "The secret is selected: copy it with your keyboard or menu.";
        },
      );
    });
  }

  localize(document);
  document.querySelectorAll("button[data-copy]").forEach(copyButton);
  document.querySelectorAll("[data-scroll-hint]").forEach(scrollHint);
  document.querySelectorAll("form[data-preview-url]").forEach(previewSchedule);
  document.querySelectorAll("[data-poll-url]").forEach(pollRun);
})();
