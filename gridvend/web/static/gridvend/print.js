// Buttons marked data-print open the browser's print dialogue (inline scripts are not allowed).
document.addEventListener("click", function (event) {
  var button = event.target.closest("[data-print]");
  if (button) {
    event.preventDefault();
    window.print();
  }
});
