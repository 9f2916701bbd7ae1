// A calibrated thresholds file fills the form with its values; the server checks the file again.
"use strict";
(() => {
  const pct = (r) => `${(100 * r.value).toFixed(2)}% (new parts ${(100 * r.low).toFixed(1)}–${(100 * r.high).toFixed(1)}%)`;
  for (const picker of document.querySelectorAll(".thresholds-file")) {
    const form = picker.closest("form");
    const hidden = form.querySelector("input[name=thresholds_file]");
    const summary = form.querySelector(".thresholds-summary");
    picker.addEventListener("change", async () => {
      hidden.disabled = true;
      summary.textContent = "";
      const file = picker.files[0];
      if (!file) return;
      const text = await file.text();
      let record;
      try {
        record = JSON.parse(text);
      } catch (err) {
        summary.textContent = `${file.name} is not JSON: ${err.message}`;
        return;
      }
      if (record.kind !== "thresholds") {
        summary.textContent = `${file.name} is not a thresholds file (kind ${record.kind})`;
        return;
      }
      form.querySelector("input[name=pass_below]").value = record.pass_below;
      form.querySelector("input[name=reject_above]").value = record.reject_above;
      hidden.value = text;
      hidden.disabled = false;
      const r = record.rates;
      summary.textContent = `${record.id}: escapes ${pct(r.escape)}, false rejects ${pct(r.false_reject)}, ` +
        `review ${pct(r.review)}`;
    });
  }
})();
