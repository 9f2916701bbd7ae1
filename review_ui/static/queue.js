// The inspector's queue: live list by deadline, one item claimed and shown, verdicts by keyboard.
"use strict";
(() => {
  const root = document.getElementById("review");
  const csrf = root.dataset.csrf;
  const $ = (id) => document.getElementById(id);
  let items = [];
  let selected = root.dataset.selected || null;
  let skewMs = 0; // server clock minus browser clock
  let zoom = 1, panX = 0, panY = 0, showHeat = true;

  const api = async (path, options = {}) => {
    const response = await fetch(path, {
      credentials: "same-origin",
      ...options,
      headers: { "Content-Type": "application/json", "X-CSRF-Token": csrf, ...(options.headers || {}) },
    });
    const body = response.headers.get("content-type")?.includes("json") ? await response.json() : null;
    if (!response.ok) throw new Error(body?.detail ? (typeof body.detail === "string" ? body.detail : JSON.stringify(body.detail)) : response.statusText);
    return body;
  };

  const remainingMs = (item) => Date.parse(item.deadline_utc) - (Date.now() + skewMs);
  const clock = (ms) => {
    if (ms <= 0) return "expired";
    const s = ms / 1000;
    return s >= 60 ? `${Math.floor(s / 60)}:${String(Math.floor(s % 60)).padStart(2, "0")}` : `${s.toFixed(1)} s`;
  };
  const waiting = (item) => item.state === "pending" || item.state === "claimed";
  // a release that waits for a second signer: the station still waits too
  const open = (item) => waiting(item) || item.awaiting_second;
  const approvable = (item) => item.awaiting_second && item.released_by !== root.dataset.user;

  async function loadQueue() {
    const view = await api("/api/queue");
    skewMs = Date.parse(view.server_utc) - Date.now();
    items = view.items;
    renderQueue();
    if (selected && !items.some((i) => i.part_id === selected)) {
      const current = await api(`/api/items/${encodeURIComponent(selected)}`).catch(() => null);
      if (current) renderDetail(current);
    }
  }

  function renderQueue() {
    const list = $("queue");
    list.replaceChildren(...items.map((item) => {
      const li = document.createElement("li");
      li.dataset.id = item.part_id;
      li.className = [item.part_id === selected ? "selected" : "", item.seen ? "" : "unseen", open(item) ? "" : "expired"].join(" ");
      const id = document.createElement("span"); id.className = "id"; id.textContent = item.part_id;
      const left = document.createElement("span"); left.className = "left countdown-small"; left.dataset.deadline = item.deadline_utc;
      const tag = document.createElement("span"); tag.className = `tag v-${item.verdict}`;
      tag.textContent = `${item.verdict} ${item.score == null ? "" : item.score.toFixed(3)} · ${item.station_id}` +
        (item.claimed_by && item.state === "claimed" ? ` · ${item.claimed_by}` : "") + (item.escalated ? " · escalated" : "") +
        (item.awaiting_second ? ` · released by ${item.released_by}, awaiting approval` : "");
      li.append(id, left, tag);
      li.addEventListener("click", () => select(item.part_id));
      return li;
    }));
    $("backlog").textContent = `(${items.filter(open).length} waiting)`;
    tick();
  }

  async function select(partId) {
    selected = partId;
    history.replaceState(null, "", `/items/${encodeURIComponent(partId)}`);
    renderQueue();
    const item = items.find((i) => i.part_id === partId);
    let shown = item;
    if (item && waiting(item)) {
      try { shown = await api(`/api/items/${encodeURIComponent(partId)}/claim`, { method: "POST" }); }
      catch (error) { $("d-message").textContent = error.message; shown = null; }
    }
    if (!shown || shown === item) shown = await api(`/api/items/${encodeURIComponent(partId)}`);
    if (shown) renderDetail(shown);
  }

  function renderDetail(item) {
    $("detail").hidden = false;
    $("d-title").textContent = `${item.part_id} · ${item.verdict}`;
    $("d-title").className = `v-${item.verdict}`;
    $("d-countdown").dataset.deadline = item.deadline_utc;
    const banner = $("d-banner");
    banner.hidden = true;
    $("b-approve").hidden = !approvable(item);
    if (item.awaiting_second) {
      banner.hidden = false; banner.className = "banner";
      banner.textContent = `Released as good by ${item.released_by}${item.late ? " (late)" : ""}; not sent to the station until a second, different person approves it.`;
    } else if (!waiting(item)) {
      banner.hidden = false;
      banner.className = "banner bad";
      const action = item.disposition || item.action || "reject";
      banner.textContent = item.human_verdict
        ? `Decided: ${item.human_verdict} by ${item.resolved_by}${item.approved_by ? `, approved by ${item.approved_by}` : ""}${item.late ? " (late)" : ""}.`
        : `Expired: the station applied its fail-safe (${action}${item.disposition_origin ? `, ${item.disposition_origin}` : ""}). A late verdict is still recorded as a label.`;
    } else if (item.claimed_by && item.claimed_by !== root.dataset.user) {
      banner.hidden = false; banner.className = "banner";
      banner.textContent = `Being reviewed by ${item.claimed_by}.`;
    }
    const frame = $("d-frame"), heat = $("d-heatmap");
    frame.onload = () => placeOverlay(item);
    const picture = (img, kind, present) => {
      if (present) img.src = `/api/items/${encodeURIComponent(item.part_id)}/${kind}.png`;
      else img.removeAttribute("src");
    };
    picture(frame, "frame", item.has_frame);
    picture(heat, "heatmap", item.has_heatmap);
    heat.hidden = !item.has_heatmap || !showHeat;
    const facts = [
      ["Score", item.score == null ? "none" : item.score.toFixed(4)], ["Reason", item.reason || "—"],
      ["Station", item.station_id], ["Part", item.part_id],
      ["Model", item.model_id.slice(0, 12)], ["Thresholds", item.thresholds_version],
      ["Calibration", item.calibration_id || "none (sizes in px)"],
      ["Captured", item.captured_utc], ["Gate action", item.action || "none"],
      ["Regions", regionSummary(item.regions)], ["Detail", item.detail || "—"],
    ];
    $("d-facts").replaceChildren(...facts.flatMap(([k, v]) => {
      const dt = document.createElement("dt"); dt.textContent = k;
      const dd = document.createElement("dd"); dd.textContent = v;
      return [dt, dd];
    }));
    loadHistory(item.part_id);
    resetView();
  }

  function regionSize(r) {
    if (r.area_mm2 == null) return `${r.width}×${r.height} px · ${Math.round(r.area_px)} px²`;
    return `${r.width_mm.toFixed(1)}×${r.height_mm.toFixed(1)} mm · ${r.area_mm2.toFixed(2)} mm²`;
  }

  function regionSummary(regions) {
    return regions.length ? `${regions.length}, largest ${regionSize(regions[0])}` : "0";
  }

  function placeOverlay(item) {
    const frame = $("d-frame"), heat = $("d-heatmap");
    const w = frame.naturalWidth, h = frame.naturalHeight;
    const [x, y, bw, bh] = item.heatmap_box || [0, 0, w, h];
    Object.assign(heat.style, { left: `${x}px`, top: `${y}px`, width: `${bw}px`, height: `${bh}px` });
    $("d-boxes").replaceChildren(...item.regions.map((r) => {
      const box = document.createElement("div");
      box.className = "box";
      Object.assign(box.style, { left: `${r.x}px`, top: `${r.y}px`, width: `${r.width}px`, height: `${r.height}px` });
      const label = document.createElement("span");
      label.textContent = regionSize(r);
      box.append(label);
      return box;
    }));
    resetView();
  }

  async function loadHistory(partId) {
    const entries = await api(`/api/items/${encodeURIComponent(partId)}/history`).catch(() => []);
    $("d-history").replaceChildren(...entries.map((e) => {
      const li = document.createElement("li");
      li.textContent = `${e.utc} ${e.actor}: ${e.action} — ${e.reason}`;
      return li;
    }));
  }

  function reason() {
    const chosen = $("d-reason").value, comment = $("d-comment").value.trim();
    return { reason: chosen || comment, comment: chosen ? comment : "" };
  }

  async function decide(verdict, password) {
    if (!selected) return;
    const why = reason();
    if (!why.reason) { $("d-message").textContent = "Choose a reason or type one."; return; }
    try {
      const result = await api(`/api/items/${encodeURIComponent(selected)}/verdict`, {
        method: "POST", body: JSON.stringify({ verdict, ...why, password: password || null }),
      });
      const decided = selected;
      renderDetail(result.item);
      await loadQueue();
      const next = items.find((i) => waiting(i) && i.part_id !== decided && (!i.claimed_by || i.claimed_by === root.dataset.user));
      if (next && !result.late) await select(next.part_id);
      $("d-message").textContent = `${decided}: ${result.message}`;
    } catch (error) {
      $("d-message").textContent = error.message;
    }
  }

  function release() {
    const item = items.find((i) => i.part_id === selected);
    if (item && item.verdict === "pass") { decide("pass"); return; }
    const dialog = $("sign");
    $("sign-password").value = "";
    dialog.showModal();
    dialog.addEventListener("close", () => {
      if (dialog.returnValue === "ok") decide("pass", $("sign-password").value);
    }, { once: true });
  }

  function approve() {
    const item = items.find((i) => i.part_id === selected);
    if (!item || !approvable(item)) return;
    const why = reason();
    if (!why.reason) { $("d-message").textContent = "Choose a reason or type one."; return; }
    const dialog = $("approve");
    $("approve-release").textContent = `${item.released_by}'s release of ${item.part_id}`;
    $("approve-password").value = "";
    dialog.showModal();
    dialog.addEventListener("close", async () => {
      if (dialog.returnValue !== "ok") return;
      try {
        const result = await api(`/api/items/${encodeURIComponent(item.part_id)}/approve`, {
          method: "POST", body: JSON.stringify({ password: $("approve-password").value, reason: why.comment ? `${why.reason}: ${why.comment}` : why.reason }),
        });
        renderDetail(result.item);
        await loadQueue();
        $("d-message").textContent = `${item.part_id}: ${result.message}`;
      } catch (error) {
        $("d-message").textContent = error.message;
      }
    }, { once: true });
  }

  function move(step) {
    if (!items.length) return;
    const index = items.findIndex((i) => i.part_id === selected);
    const next = items[Math.min(items.length - 1, Math.max(0, index + step))];
    if (next) select(next.part_id);
  }

  function resetView() { zoom = 1; panX = 0; panY = 0; applyView(); fit(); }
  function fit() {
    const frame = $("d-frame"), viewer = $("viewer");
    if (!frame.naturalWidth) return;
    zoom = Math.min(viewer.clientWidth / frame.naturalWidth, viewer.clientHeight / frame.naturalHeight);
    panX = 0; panY = 0; applyView();
  }
  function applyView() { $("stage").style.transform = `translate(${panX}px, ${panY}px) scale(${zoom})`; }
  function toggleHeat() { showHeat = !showHeat; $("d-heatmap").hidden = !showHeat || !$("d-heatmap").hasAttribute("src"); }

  function tick() {
    for (const el of document.querySelectorAll("[data-deadline]")) {
      const ms = Date.parse(el.dataset.deadline) - (Date.now() + skewMs);
      el.textContent = clock(ms);
      el.classList.toggle("urgent", ms > 0 && ms < 1000);
    }
  }

  document.addEventListener("keydown", (event) => {
    if (event.target.closest("input, select, textarea, dialog") || event.ctrlKey || event.metaKey || event.altKey) return;
    const actions = {
      j: () => move(1), ArrowDown: () => move(1), k: () => move(-1), ArrowUp: () => move(-1),
      r: () => decide("reject"), p: release, a: approve, e: () => decide("escalate"), h: toggleHeat,
      "+": () => { zoom *= 1.25; applyView(); }, "=": () => { zoom *= 1.25; applyView(); },
      "-": () => { zoom /= 1.25; applyView(); }, "0": fit,
    };
    const action = actions[event.key];
    if (action) { event.preventDefault(); action(); }
  });
  $("b-reject").addEventListener("click", () => decide("reject"));
  $("b-pass").addEventListener("click", release);
  $("b-approve").addEventListener("click", approve);
  $("b-escalate").addEventListener("click", () => decide("escalate"));
  $("b-heatmap").addEventListener("click", toggleHeat);
  const viewer = $("viewer");
  viewer.addEventListener("wheel", (event) => { event.preventDefault(); zoom *= event.deltaY < 0 ? 1.1 : 1 / 1.1; applyView(); }, { passive: false });
  let drag = null;
  viewer.addEventListener("pointerdown", (event) => { drag = [event.clientX - panX, event.clientY - panY]; });
  window.addEventListener("pointerup", () => { drag = null; });
  window.addEventListener("pointermove", (event) => { if (drag) { panX = event.clientX - drag[0]; panY = event.clientY - drag[1]; applyView(); } });

  // Many events in a burst (a busy line) make one reload, at most every 250 ms.
  let reloadTimer = null;
  const scheduleReload = () => {
    if (reloadTimer) return;
    reloadTimer = setTimeout(() => { reloadTimer = null; loadQueue().catch(() => {}); }, 250);
  };
  const events = new EventSource("/api/events");
  for (const kind of ["item", "claim", "verdict", "approval", "disposition", "expired"]) {
    events.addEventListener(kind, scheduleReload);
  }
  setInterval(tick, 100);
  loadQueue().then(() => { if (selected) select(selected); });
})();
