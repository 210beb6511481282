/* Links marked data-print-frame print the receipt they point at without leaving the page: the
   80 mm receipt is loaded into a hidden frame and its print dialogue opened there. The server
   decides, as for any print, whether it is the original, a REPRINT or a COPY, and records it.
   Without this script the link simply opens the receipt in a new tab. */
(function () {
  "use strict";

  function hiddenFrame() {
    var frame = document.getElementById("gv-print-frame");
    if (!frame) {
      frame = document.createElement("iframe");
      frame.id = "gv-print-frame";
      frame.className = "print-frame";
      frame.setAttribute("aria-hidden", "true");
      frame.tabIndex = -1;
      frame.title = "";
      document.body.appendChild(frame);
    }
    return frame;
  }

  function announce(link, text) {
    var status = link.dataset.printStatus && document.getElementById(link.dataset.printStatus);
    if (status && text) {
      status.textContent = text;
    }
  }

  document.addEventListener("click", function (event) {
    var link = event.target.closest ? event.target.closest("[data-print-frame]") : null;
    if (!link || event.ctrlKey || event.metaKey || event.shiftKey) {
      return;
    }
    event.preventDefault();
    var frame = hiddenFrame();
    frame.onload = function () {
      var receipt = null;
      try {
        receipt = frame.contentDocument && frame.contentDocument.querySelector(".receipt");
      } catch (error) {
        receipt = null;
      }
      if (!receipt) {
        // Not a receipt (the session ended, the sale is out of reach): show the answer itself.
        window.location.assign(link.href);
        return;
      }
      announce(link, link.dataset.printedText);
      if (link.dataset.reprintLabel) {
        link.textContent = link.dataset.reprintLabel;
      }
      frame.contentWindow.focus();
      frame.contentWindow.print();
    };
    frame.src = link.href;
  });
})();
