// The check-in desk (admin/event_checkin.py): keep the counts and the latest check-ins live by polling the event's
// small JSON feed every few seconds. A file, not inline script: the console's Content-Security-Policy forbids inline
// script. Names arrive masked; they are set as text, never as HTML.
(function () {
  var desk = document.getElementById("checkin-desk");
  if (!desk) {
    return;
  }
  var feedUrl = desk.getAttribute("data-feed");
  var body = document.querySelector("#checkin-latest tbody");
  var emptyRow = document.getElementById("checkin-empty-row");
  var counts = {
    confirmed: document.getElementById("count-confirmed"),
    checked_in: document.getElementById("count-checked-in"),
    remaining: document.getElementById("count-remaining"),
    waitlisted: document.getElementById("count-waitlisted"),
  };

  function cell(text) {
    var td = document.createElement("td");
    td.textContent = text;
    return td;
  }

  function render(feed) {
    Object.keys(counts).forEach(function (key) {
      if (counts[key]) {
        counts[key].textContent = String(feed.counts[key]);
      }
    });
    var rows = document.createDocumentFragment();
    feed.latest.forEach(function (item) {
      var tr = document.createElement("tr");
      tr.setAttribute("data-registration", String(item.registration_id));
      tr.appendChild(cell(item.at));
      tr.appendChild(cell(item.name));
      tr.appendChild(cell(String(item.registration_id)));
      tr.appendChild(cell(item.method));
      rows.appendChild(tr);
    });
    if (!feed.latest.length && emptyRow) {
      rows.appendChild(emptyRow.content.cloneNode(true));
    }
    body.replaceChildren(rows);
  }

  function poll() {
    fetch(feedUrl, { credentials: "same-origin", headers: { Accept: "application/json" } })
      .then(function (response) {
        return response.ok ? response.json() : null;
      })
      .then(function (feed) {
        if (feed) {
          render(feed);
        }
      })
      .catch(function () {
        // offline for a moment: the next poll tries again
      })
      .finally(function () {
        window.setTimeout(poll, 3000);
      });
  }

  window.setTimeout(poll, 3000);
})();
