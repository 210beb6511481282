/* The cashier screen in the browser: focus where the next key goes, the change due, the idle
   screen lock, and never a page kept from before. The server enforces every rule these help
   with (the lock, the amounts); this file only saves the cashier time. Served from the project
   (no CDN), loaded with `defer` after htmx. */
(function () {
  "use strict";

  // htmx keeps copies of pages in sessionStorage to restore them on Back: on a shared counter
  // PC that is customer data left behind, and a copy from before the last sale invites a second
  // one. Keep none; a Back or Forward always fetches the page afresh.
  if (window.htmx) {
    window.htmx.config.historyCacheSize = 0;
    window.htmx.config.refreshOnHistoryMiss = true;
  }

  // A page restored from the browser's back/forward cache shows the till as it was (an old
  // breakdown, last purchases without the sale just made): load it again instead.
  window.addEventListener("pageshow", function (event) {
    if (event.persisted) {
      window.location.reload();
    }
  });

  // New content gets the focus at once, not after htmx's settle delay: an Enter pressed as
  // soon as the breakdown shows must reach the sell form, not the page body. And htmx binds the new content's forms only when it settles (20 ms later): an Enter pressed in
  // between would post the form as a whole page, leaving a Back entry the browser cannot show
  // without posting again. Bind them now (htmx.process does nothing to what is bound already).
  document.addEventListener("htmx:afterSwap", function (event) {
    var target = event.detail && event.detail.target;
    if (target && window.htmx) {
      window.htmx.process(target);
    }
    var element = target && target.querySelector ? target.querySelector("[autofocus]") : null;
    if (element) {
      element.focus();
    }
  });

  // --- change due ------------------------------------------------------------------------

  // "1,250.5" -> 125050 minor units (exponent 2); null for anything that is not an amount.
  function toMinor(text, exponent) {
    var plain = String(text).replace(/[\s,]/g, "");
    var match = /^(\d{1,12})(?:\.(\d*))?$/.exec(plain);
    if (!match) {
      return null;
    }
    var fraction = match[2] || "";
    if (fraction.length > exponent) {
      return null;
    }
    while (fraction.length < exponent) {
      fraction += "0";
    }
    return parseInt(match[1] + fraction, 10);
  }

  // 125050 -> "KES 1,250.50", as the server writes money.
  function formatMinor(minor, exponent, currency) {
    var digits = String(minor);
    while (digits.length <= exponent) {
      digits = "0" + digits;
    }
    var whole = exponent ? digits.slice(0, -exponent) : digits;
    var fraction = exponent ? "." + digits.slice(-exponent) : "";
    return currency + " " + whole.replace(/\B(?=(\d{3})+(?!\d))/g, ",") + fraction;
  }

  function showChange(input) {
    var out = document.getElementById("change-due");
    if (!out) {
      return;
    }
    var exponent = parseInt(out.dataset.exponent, 10);
    var due = parseInt(out.dataset.dueMinor, 10);
    var given = toMinor(input.value, exponent);
    if (given === null || given === 0) {
      out.textContent = "";
      return;
    }
    var difference = given - due;
    var label = difference >= 0 ? out.dataset.labelChange : out.dataset.labelShort;
    out.textContent = "";
    out.appendChild(document.createTextNode(label + " "));
    var amount = document.createElement("bdi");
    amount.dir = "ltr";
    amount.textContent = formatMinor(Math.abs(difference), exponent, out.dataset.currency);
    out.appendChild(amount);
    out.classList.toggle("text-danger", difference < 0);
    out.classList.toggle("text-success", difference >= 0);
  }

  document.addEventListener("input", function (event) {
    if (event.target && event.target.id === "id_cash_received") {
      showChange(event.target);
    }
  });
  document.addEventListener("htmx:afterSwap", function () {
    var input = document.getElementById("id_cash_received");
    if (input && input.value) {
      showChange(input);
    }
  });

  // --- idle screen lock --------------------------------------------------------------------

  // The last input in any tab of this browser, shared through localStorage: a cashier typing in
  // a back-office tab is at work, and an idle till tab beside it must not lock the session.
  var LAST_ACTIVITY = "gridvend.lastActivity";

  function sharedActivity() {
    try {
      return parseInt(window.localStorage.getItem(LAST_ACTIVITY) || "0", 10) || 0;
    } catch (error) {
      return 0;
    }
  }

  function shareActivity(when) {
    try {
      window.localStorage.setItem(LAST_ACTIVITY, String(when));
    } catch (error) {
      // Storage refused (private mode, full): this tab still counts its own input.
    }
  }

  function startIdleLock() {
    var form = document.getElementById("lock-form");
    var seconds = form ? parseInt(form.dataset.lockSeconds || "0", 10) : 0;
    if (!form || !(seconds > 0)) {
      return;
    }
    var aliveUrl = form.dataset.aliveUrl;
    // The lock itself runs on till pages only; every page of a till's session shares its input
    // and tells the server, so that no tab locks while another is in use.
    var tillPage = form.hasAttribute("data-idle-lock");
    // The server locks after `seconds` without a request: tell it well within that.
    var tellEvery = Math.min(60000, (seconds * 1000) / 3);
    var lastInput = Date.now();
    var lastShared = 0;
    var lastTold = Date.now();
    var locking = false;

    function here() {
      return window.location.pathname + window.location.search;
    }

    // The unlock page returns to the page in view when it locked.
    form.addEventListener("submit", function () {
      if (form.elements.next) {
        form.elements.next.value = here();
      }
    });

    // Typing or pointing on a page that sends nothing is still work at the till: tell the
    // other tabs at once, and the server now and then, so that their idle locks count it too.
    function active() {
      lastInput = Date.now();
      if (lastInput - lastShared >= 1000) {
        lastShared = lastInput;
        shareActivity(lastInput);
      }
      if (!aliveUrl || lastInput - lastTold < tellEvery) {
        return;
      }
      lastTold = lastInput;
      window
        .fetch(aliveUrl, { credentials: "same-origin", cache: "no-store" })
        .then(function (response) {
          if (response.redirected && tillPage) {
            // Locked or signed out on the server meanwhile: let the page say so.
            window.location.reload();
          }
        })
        .catch(function () {});
    }

    ["keydown", "mousedown", "mousemove", "touchstart", "wheel"].forEach(function (name) {
      document.addEventListener(name, active, { capture: true, passive: true });
    });
    document.addEventListener("htmx:beforeRequest", function () {
      lastInput = Date.now();
      lastTold = Date.now();
      shareActivity(lastInput);
    });
    shareActivity(lastInput);

    if (!tillPage) {
      return;
    }
    window.setInterval(function () {
      var last = Math.max(lastInput, sharedActivity());
      if (!locking && Date.now() - last >= seconds * 1000) {
        locking = true;
        if (form.elements.next) {
          form.elements.next.value = here();
        }
        form.submit();
      }
    }, 1000);
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", startIdleLock);
  } else {
    startIdleLock();
  }
})();
