// Backbeat dashboard: small progressive enhancements. Every page works without this file.
// - <time data-local> shows the viewer's local time (the UTC text stays in the title).
// - The task form previews a schedule's description and next fire times as it is typed,
//   and suggests time zones.
// - A run that can still change polls its status every 2 s and reloads when it changes.
// Text is only ever set with textContent: nothing from the server is parsed as HTML.
"use strict";

(function () {
  var localFormat = new Intl.DateTimeFormat(undefined, {
    dateStyle: "medium",
    timeStyle: "short",
  });

  function localize(root) {
    root.querySelectorAll("time[data-local]").forEach(function (element) {
      var instant = new Date(element.getAttribute("datetime"));
      if (!isNaN(instant.getTime())) {
        element.textContent = localFormat.format(instant);
      }
    });
  }

  function timeElement(iso, utcText) {
    var element = document.createElement("time");
    element.setAttribute("datetime", iso);
    element.setAttribute("title", utcText);
    element.setAttribute("data-local", "");
    element.textContent = utcText;
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
          item.appendChild(timeElement(iso, body.upcoming_utc[index]));
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

  function suggestZones(list) {
    // The browser's own IANA zone list; without it the field is plain text, checked by
    // the server as the API checks it.
    if (typeof Intl.supportedValuesOf !== "function") {
      return;
    }
    ["UTC"].concat(Intl.supportedValuesOf("timeZone")).forEach(function (zone) {
      var option = document.createElement("option");
      option.value = zone;
      list.appendChild(option);
    });
  }

  localize(document);
  document.querySelectorAll("datalist[data-zones]").forEach(suggestZones);
  document.querySelectorAll("form[data-preview-url]").forEach(previewSchedule);
  document.querySelectorAll("[data-poll-url]").forEach(pollRun);
})();
