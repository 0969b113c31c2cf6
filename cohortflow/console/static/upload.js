// A form with data-progress uploads through XMLHttpRequest so that its <progress> shows how much is sent;
// the page the server answers then replaces this one. Without scripts the form posts as usual.
for (const form of document.querySelectorAll("form[data-progress]")) {
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    const bar = document.getElementById(form.dataset.progress);
    const request = new XMLHttpRequest();
    request.open("POST", form.action);
    request.upload.addEventListener("progress", (sent) => {
      if (sent.lengthComputable) { bar.hidden = false; bar.value = (100 * sent.loaded) / sent.total; }
    });
    request.addEventListener("load", () => {
      document.open();
      document.write(request.responseText);
      document.close();
    });
    form.querySelector("button[type=submit]").disabled = true;
    request.send(new FormData(form));
  });
}
