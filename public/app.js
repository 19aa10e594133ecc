// The live dashboard: one EventSource on /events. Its first message is the whole state (a
// snapshot), later ones are changes; after any reconnect a new snapshot replaces everything,
// so nothing missed while the gateway was away stays wrong. What the stream does not carry —
// the can registry (names, places), the pick list and a can's history — is read over REST once
// the stream is live, and again when it may have changed.
//
// Can names come from PUT /cans, i.e. from anyone with write access: every piece of data goes
// into the page as text (textContent, attributes), never as markup.
"use strict";

(() => {
	const state = {
		threshold: 80,
		historySeconds: 300,
		/** canId → {canId, level, reportedAt, receivedAt, fillRate, fullAt, state} */
		cans: new Map(),
		/** canId → its registration {canId, name, location, fullThreshold, …} (GET /cans) */
		registry: new Map(),
		/** The can whose history is shown. */
		selected: null,
		/** canId → the can's element in the grid */
		canEls: new Map(),
		movies: null,
		snapshots: 0,
		/** reports per second: xs = unix seconds, ys = counts */
		rate: { xs: [], ys: [] }
	};

	const byTestId = id => document.querySelector(`[data-testid="${id}"]`);
	const byCanId = (a, b) => a.localeCompare(b, "en", { numeric: true });
	// two decimals, as reported: 79.99 must not read as 80.0 next to a threshold of 80
	const formatLevel = level => `${level.toFixed(2)} %`;
	const band = level => (level >= state.threshold ? "red" : level < 50 ? "green" : "amber");

	function ago(iso) {
		const s = Math.max(0, Math.round((Date.now() - Date.parse(iso)) / 1000));
		if (s < 60) return `${s} s ago`;
		if (s < 3600) return `${Math.floor(s / 60)} min ago`;
		return `${Math.floor(s / 3600)} h ago`;
	}
	const clock = iso => new Date(iso).toLocaleTimeString([], { hour: "2-digit", minute: "2-digit", second: "2-digit", hourCycle: "h23" });
	const shortTime = ms => new Date(ms).toLocaleTimeString([], { hour: "2-digit", minute: "2-digit", hourCycle: "h23" });
	const shortDate = ms => new Date(ms).toLocaleDateString([], { day: "numeric", month: "short" });
	const nameOf = canId => state.registry.get(canId)?.name || "";
	const thresholdOf = canId => state.registry.get(canId)?.fullThreshold ?? state.threshold;
	const svg = (tag, attrs = {}) => {
		const el = document.createElementNS("http://www.w3.org/2000/svg", tag);
		for (const [key, value] of Object.entries(attrs)) el.setAttribute(key, String(value));
		return el;
	};

	/** "3 h 20 min", "25 min", "2 d 3 h" */
	function duration(ms) {
		const minutes = Math.floor(ms / 60_000);
		if (minutes < 1) return "< 1 min";
		if (minutes < 60) return `${minutes} min`;
		const hours = Math.floor(minutes / 60);
		if (hours < 24) return minutes % 60 ? `${hours} h ${minutes % 60} min` : `${hours} h`;
		return hours % 24 ? `${Math.floor(hours / 24)} d ${hours % 24} h` : `${Math.floor(hours / 24)} d`;
	}

	/** When the can will be full: "full in 3 h 20 min" while it fills, nothing when it does not; "full since 08:45" once it is. */
	function fullIn(can, now = Date.now()) {
		if (can.state === "full" || can.state === "overfull") return can.fullAt ? `full since ${shortTime(Date.parse(can.fullAt))}` : "full";
		if (!can.fullAt) return "";
		const ms = Date.parse(can.fullAt) - now;
		return ms <= 0 ? "full by now" : `full in ${duration(ms)}`;
	}

	const formatRate = rate => (rate == null ? "" : `${rate >= 0 ? "+" : "−"}${Math.abs(rate).toFixed(1)} %/h`);

	/** A GET of the REST API as JSON; null when it failed (the part keeps what it shows). */
	async function getJson(path) {
		try {
			const res = await fetch(path, { headers: { accept: "application/json" } });
			return res.ok ? await res.json() : null;
		} catch {
			return null;
		}
	}

	/** Runs `task` once, `ms` after the last of several calls within that time. */
	function debounced(task, ms) {
		let timer = null;
		return () => {
			clearTimeout(timer);
			timer = setTimeout(task, ms);
		};
	}

	// ---- connection -------------------------------------------------------------------------

	function setStatus(name, text) {
		const el = byTestId("connection");
		el.dataset.state = name;
		el.textContent = text;
	}

	function notice(text) {
		const el = byTestId("notice");
		el.hidden = !text;
		el.textContent = text || "";
	}

	function connect() {
		const source = new EventSource("/events");
		setStatus("connecting", "connecting…");
		source.addEventListener("open", () => setStatus("live", "live"));
		source.addEventListener("snapshot", e => applySnapshot(JSON.parse(e.data)));
		source.addEventListener("levels", e => applyLevels(JSON.parse(e.data)));
		source.addEventListener("rate", e => addRate(...JSON.parse(e.data)));
		source.addEventListener("workers", e => renderWorkers(JSON.parse(e.data)));
		source.addEventListener("movies", e => renderMovies(JSON.parse(e.data)));
		source.addEventListener("error", () => {
			// CONNECTING: the browser retries by itself (gateway restarting, network gone).
			// CLOSED: it gave up (an HTTP error such as 401 or 503): try again ourselves.
			if (source.readyState === EventSource.CONNECTING) return setStatus("reconnecting", "reconnecting…");
			source.close();
			setStatus("offline", "offline, retrying");
			explainRefusal();
			setTimeout(connect, 3000);
		});
	}

	// EventSource does not tell why it was refused; a plain read does.
	async function explainRefusal() {
		try {
			const res = await fetch("/workers");
			if (res.status === 401)
				notice(
					"This gateway requires a token for reads (API_TOKEN_READS), and a browser's EventSource cannot send one. Open the dashboard through a proxy that adds the Authorization header, or run the gateway without API_TOKEN_READS."
				);
			else if (res.ok) notice("");
		} catch {
			// the gateway is down: the status says so already
		}
	}

	// ---- state ------------------------------------------------------------------------------

	function applySnapshot(snapshot) {
		state.snapshots++;
		byTestId("connection").dataset.snapshots = String(state.snapshots);
		state.threshold = snapshot.fullThreshold;
		state.historySeconds = snapshot.historySeconds;
		for (const id of ["threshold", "threshold-inline", "threshold-key"]) byTestId(id).textContent = String(snapshot.fullThreshold);
		byTestId("gateway-node").textContent = snapshot.nodeID;
		notice("");
		// a part is null when its service did not answer: keep what we have, another snapshot follows
		if (snapshot.levels) {
			// A level event sent while the snapshot was being read may be newer than the snapshot's
			// value for that can: the newer report wins, as in the store.
			state.cans = new Map(
				snapshot.levels.map(can => {
					const known = state.cans.get(can.canId);
					return [can.canId, known && Date.parse(known.reportedAt) > Date.parse(can.reportedAt) ? known : can];
				})
			);
			renderAllCans();
		}
		if (snapshot.workers) renderWorkers(snapshot.workers);
		if (snapshot.movies != null) renderMovies(snapshot.movies);
		setRateHistory(snapshot.rate);
		if (snapshot.map) setMapTiles(snapshot.map);
		// what the stream does not carry may have changed while it was away
		loadRegistry();
		loadPickList();
		if (state.selected) loadHistory();
	}

	function applyLevels(levels) {
		let added = false;
		for (const can of levels) {
			const known = state.cans.get(can.canId);
			// events of two gateways' snapshots may cross: never step back to an older report
			if (known && Date.parse(known.reportedAt) > Date.parse(can.reportedAt)) continue;
			state.cans.set(can.canId, can);
			if (state.canEls.has(can.canId)) updateCan(state.canEls.get(can.canId), can);
			else added = true;
			if (!state.registry.has(can.canId)) reloadRegistry();
			if (can.canId === state.selected) reloadHistory();
		}
		if (added) renderAllCans();
		else renderSummary();
		renderMarkers();
		// forecasts moved: the pick list may have too
		reloadPickList();
	}

	// ---- cans -------------------------------------------------------------------------------

	function canElement(can) {
		const el = document.createElement("article");
		el.className = "can";
		el.dataset.testid = "can";
		el.dataset.canId = can.canId;
		// a button for the keyboard too: it shows the can's history
		el.tabIndex = 0;
		el.setAttribute("role", "button");
		el.innerHTML = `<div class="can-head"><span class="can-id"></span><span class="can-level" data-testid="can-level"></span></div>
			<div class="can-name" data-testid="can-name"></div>
			<div class="bar" role="meter" aria-valuemin="0" aria-valuemax="100"><div class="fill"></div></div>
			<div class="can-forecast"><span class="can-state" data-testid="can-state"></span><span class="can-rate" data-testid="can-rate"></span><span class="can-full-in" data-testid="can-full-in"></span></div>
			<div class="can-time" data-testid="can-time"><span class="label">reported </span><span class="when"></span></div>`;
		el.querySelector(".can-id").textContent = `Can ${can.canId}`;
		// a long id is cut on a phone; the whole one on hover or long press
		el.querySelector(".can-id").title = `Can ${can.canId}`;
		el.querySelector(".bar").setAttribute("aria-label", `Can ${can.canId} fill level`);
		updateCan(el, can);
		updateName(el, can.canId);
		el.classList.toggle("selected", can.canId === state.selected);
		return el;
	}

	function updateName(el, canId) {
		const name = el.querySelector(".can-name");
		name.textContent = nameOf(canId);
		name.title = nameOf(canId);
		name.hidden = !nameOf(canId);
	}

	function updateCan(el, can) {
		el.dataset.level = String(can.level);
		el.dataset.band = band(can.level);
		el.dataset.reportedAt = can.reportedAt;
		el.querySelector(".can-level").textContent = formatLevel(can.level);
		const bar = el.querySelector(".bar");
		bar.setAttribute("aria-valuenow", String(can.level));
		bar.firstElementChild.style.width = `${Math.min(100, Math.max(0, can.level))}%`;
		el.querySelector(".when").textContent = `${clock(can.reportedAt)} · ${ago(can.reportedAt)}`;
		el.dataset.state = can.state || "";
		el.querySelector(".can-state").textContent = can.state || "";
		el.querySelector(".can-rate").textContent = formatRate(can.fillRate);
		el.querySelector(".can-full-in").textContent = fullIn(can);
	}

	function renderAllCans() {
		const grid = byTestId("cans");
		state.canEls = new Map();
		const els = [...state.cans.values()]
			.sort((a, b) => byCanId(a.canId, b.canId))
			.map(can => {
				const el = canElement(can);
				state.canEls.set(can.canId, el);
				return el;
			});
		grid.replaceChildren(...els);
		byTestId("cans-empty").hidden = els.length > 0;
		renderSummary();
	}

	function renderSummary() {
		const full = [...state.cans.values()].filter(can => can.level >= state.threshold).sort((a, b) => b.level - a.level || byCanId(a.canId, b.canId));
		const list = byTestId("full-cans");
		list.replaceChildren(
			...full.map(can => {
				const li = document.createElement("li");
				li.dataset.testid = "full-can";
				li.dataset.canId = can.canId;
				li.innerHTML = `<span class="can-id"></span><strong></strong><span class="can-time"></span>`;
				li.children[0].textContent = `Can ${can.canId}`;
				li.children[1].textContent = formatLevel(can.level);
				li.children[2].textContent = ago(can.reportedAt);
				return li;
			})
		);
		byTestId("full-empty").hidden = full.length > 0;
		byTestId("full-count").textContent = String(full.length);
		byTestId("cans-count").textContent = String(state.cans.size);
	}

	// "12 s ago" and "full in 20 min" move on even when nothing reports
	setInterval(() => {
		for (const [canId, el] of state.canEls) {
			const can = state.cans.get(canId);
			el.querySelector(".when").textContent = `${clock(can.reportedAt)} · ${ago(can.reportedAt)}`;
			el.querySelector(".can-full-in").textContent = fullIn(can);
		}
		for (const li of byTestId("full-cans").children) li.children[2].textContent = ago(state.cans.get(li.dataset.canId).reportedAt);
		for (const li of byTestId("pick-list").children) li.querySelector(".pick-when").textContent = pickWhen(li.dataset.fullAt);
	}, 1000);

	// a click (or Enter) on a can of the grid, the full list or the pick list shows its history
	for (const id of ["cans", "full-cans", "pick-list"]) {
		const list = byTestId(id);
		list.addEventListener("click", e => {
			const item = e.target.closest("[data-can-id]");
			if (item) selectCan(item.dataset.canId);
		});
		list.addEventListener("keydown", e => {
			const item = e.target.closest("[data-can-id]");
			if (item && (e.key === "Enter" || e.key === " ")) {
				e.preventDefault();
				selectCan(item.dataset.canId);
			}
		});
	}

	// ---- the registry: names and places -----------------------------------------------------

	async function loadRegistry() {
		const cans = await getJson("/cans");
		if (!cans) return;
		state.registry = new Map(cans.map(can => [can.canId, can]));
		for (const [canId, el] of state.canEls) updateName(el, canId);
		renderMarkers();
		renderPickNames();
		if (state.selected) renderHistoryTitle();
	}
	const reloadRegistry = debounced(loadRegistry, 1000);
	// a registration changes no level, so no event tells of it: read it now and then
	setInterval(() => state.snapshots > 0 && loadRegistry(), 30_000);

	// ---- the pick list: the cans full by the time chosen ------------------------------------

	const pickSelect = byTestId("full-before");
	const pickTime = byTestId("full-before-time");

	/** The time chosen, or null (a custom time not filled in). */
	function fullBefore() {
		if (pickSelect.value !== "custom") return new Date(Date.now() + Number(pickSelect.value) * 3600_000);
		const time = pickTime.value ? new Date(pickTime.value) : null;
		return time && !Number.isNaN(time.getTime()) ? time : null;
	}

	const pickWhen = fullAt => {
		const ms = Date.parse(fullAt) - Date.now();
		return ms <= 0 ? "full" : `full in ${duration(ms)}`;
	};

	let pickRequest = 0;
	async function loadPickList() {
		const by = fullBefore();
		const request = ++pickRequest;
		const levels = by ? await getJson(`/levels?fullBefore=${encodeURIComponent(by.toISOString())}`) : [];
		// an older answer arriving after a newer one must not replace it
		if (!levels || request !== pickRequest) return;
		const list = byTestId("pick-list");
		list.replaceChildren(
			...levels.map(can => {
				const li = document.createElement("li");
				li.dataset.testid = "pick-can";
				li.dataset.canId = can.canId;
				li.dataset.fullAt = can.fullAt;
				li.tabIndex = 0;
				li.setAttribute("role", "button");
				li.innerHTML = `<span class="can-id"></span><span class="pick-name"></span><strong></strong><span class="pick-when"></span><time></time>`;
				li.querySelector(".can-id").textContent = `Can ${can.canId}`;
				li.querySelector("strong").textContent = formatLevel(can.level);
				li.querySelector(".pick-when").textContent = pickWhen(can.fullAt);
				li.querySelector("time").dateTime = can.fullAt;
				li.querySelector("time").textContent = `${shortDate(Date.parse(can.fullAt))} ${shortTime(Date.parse(can.fullAt))}`;
				return li;
			})
		);
		renderPickNames();
		byTestId("pick-empty").hidden = levels.length > 0;
		byTestId("pick-count").textContent = by
			? `${levels.length} ${levels.length === 1 ? "can" : "cans"} by ${shortDate(by.getTime())} ${shortTime(by.getTime())}`
			: "";
		byTestId("pick-list").dataset.fullBefore = by ? by.toISOString() : "";
		byTestId("pick-list").dataset.loaded = String(request);
	}
	const reloadPickList = debounced(loadPickList, 1000);

	function renderPickNames() {
		for (const li of byTestId("pick-list").children) li.querySelector(".pick-name").textContent = nameOf(li.dataset.canId);
	}

	pickSelect.addEventListener("change", () => {
		pickTime.hidden = pickSelect.value !== "custom";
		if (pickSelect.value === "custom" && !pickTime.value) {
			// four hours from now, in the input's local "YYYY-MM-DDTHH:MM"
			const later = new Date(Date.now() + 4 * 3600_000 - new Date().getTimezoneOffset() * 60_000);
			pickTime.value = later.toISOString().slice(0, 16);
		}
		loadPickList();
	});
	pickTime.addEventListener("change", loadPickList);
	// "the next 4 h" moves on with the clock
	setInterval(() => state.snapshots > 0 && loadPickList(), 30_000);

	// ---- the map ----------------------------------------------------------------------------

	const STATE_COLOURS = { empty: "#94a3b8", normal: "#16a34a", full: "#dc2626", overfull: "#7c2d12", unknown: "#ffffff" };
	/** Leaflet's map, or null when its script did not load: the rest of the page works without it. */
	const map = window.L ? L.map("map", { attributionControl: true, zoomSnap: 0.25, worldCopyJump: true }) : null;
	/** canId → its circle marker */
	const markers = new Map();
	let tiles = null;
	let fitted = "";

	if (map) {
		// until a can has a place: the whole world, on the plain background
		map.setView([20, 0], 1);
		L.control.scale({ imperial: false }).addTo(map);
		map.attributionControl.setPrefix(false);
		new ResizeObserver(() => map.invalidateSize()).observe(document.getElementById("map"));
	}

	/** Tiles only when MAP_TILES names a server: without one the markers stand on a plain background. */
	function setMapTiles(settings) {
		if (!map || tiles || !settings.tiles) return;
		tiles = L.tileLayer(settings.tiles, { maxZoom: 19, attribution: settings.attribution }).addTo(map);
		document.getElementById("map").dataset.tiles = "on";
	}

	function markerTooltip(canId) {
		const box = document.createElement("div");
		const title = document.createElement("strong");
		title.textContent = `Can ${canId}`;
		box.append(title);
		const can = state.cans.get(canId);
		const lines = [
			nameOf(canId),
			can ? `${formatLevel(can.level)} · ${can.state}` : "no report yet",
			can ? [formatRate(can.fillRate), fullIn(can)].filter(Boolean).join(" · ") : ""
		];
		for (const line of lines.filter(Boolean)) {
			const div = document.createElement("div");
			div.textContent = line;
			box.append(div);
		}
		return box;
	}

	function renderMarkers() {
		if (!map) return;
		const located = [...state.registry.values()].filter(can => can.location);
		const keep = new Set(located.map(can => can.canId));
		for (const [canId, marker] of markers)
			if (!keep.has(canId)) {
				marker.remove();
				markers.delete(canId);
			}
		for (const can of located) {
			const status = state.cans.get(can.canId)?.state || "unknown";
			let marker = markers.get(can.canId);
			if (!marker) {
				marker = L.circleMarker([can.location.lat, can.location.lon], {
					radius: 8,
					weight: 2,
					color: "#1e293b",
					fillOpacity: 0.9,
					className: "can-marker"
				}).addTo(map);
				marker.on("click", () => selectCan(can.canId));
				marker.getElement().setAttribute("data-testid", "can-marker");
				marker.getElement().setAttribute("data-can-id", can.canId);
				markers.set(can.canId, marker);
			}
			marker.setLatLng([can.location.lat, can.location.lon]);
			marker.setStyle({ fillColor: STATE_COLOURS[status], weight: can.canId === state.selected ? 4 : 2 });
			marker.getElement().setAttribute("data-state", status);
			marker.unbindTooltip().bindTooltip(markerTooltip(can.canId));
		}
		// frame the cans when their set changes (not on every update: the user may have zoomed)
		const key = located.map(can => `${can.canId}@${can.location.lat},${can.location.lon}`).join(";");
		if (key !== fitted && located.length > 0) {
			fitted = key;
			map.fitBounds(L.latLngBounds(located.map(can => [can.location.lat, can.location.lon])), { padding: [24, 24], maxZoom: 15 });
		}
		const unplaced = state.registry.size - located.length;
		byTestId("map-note").textContent =
			located.length === 0
				? "No can has a location yet: PUT /cans/{canId} with a location places it."
				: `${located.length} ${located.length === 1 ? "can" : "cans"} on the map` + (unplaced > 0 ? `; ${unplaced} without a location` : "");
		document.getElementById("map").dataset.markers = String(located.length);
	}

	// ---- a can's history --------------------------------------------------------------------

	/** The ranges offered: hours shown, and the step they are downsampled to (about 100 points). */
	const RANGES = { 6: "5m", 24: "15m", 168: "2h" };
	let historyRange = 6;
	let historyPoints = [];
	let historyRequest = 0;

	function selectCan(canId) {
		state.selected = canId;
		for (const [id, el] of state.canEls) el.classList.toggle("selected", id === canId);
		renderMarkers();
		renderHistoryTitle();
		historyPoints = [];
		drawHistory();
		loadHistory();
		const panel = byTestId("history");
		if (panel.getBoundingClientRect().top > window.innerHeight || panel.getBoundingClientRect().bottom < 0)
			panel.scrollIntoView({ behavior: "smooth", block: "nearest" });
	}

	function renderHistoryTitle() {
		const name = nameOf(state.selected);
		byTestId("history-can").textContent = `Can ${state.selected}${name ? ` · ${name}` : ""}`;
	}

	async function loadHistory() {
		const canId = state.selected;
		const request = ++historyRequest;
		const from = new Date(Date.now() - historyRange * 3600_000).toISOString();
		const points = await getJson(`/levels/${encodeURIComponent(canId)}/history?from=${encodeURIComponent(from)}&step=${RANGES[historyRange]}`);
		if (request !== historyRequest) return;
		historyPoints = points || [];
		drawHistory();
	}
	const reloadHistory = debounced(() => state.selected && loadHistory(), 2000);

	for (const button of byTestId("history-ranges").querySelectorAll("button"))
		button.addEventListener("click", () => {
			historyRange = Number(button.dataset.range);
			for (const other of byTestId("history-ranges").querySelectorAll("button")) other.setAttribute("aria-pressed", String(other === button));
			if (state.selected) loadHistory();
		});

	/** The levels as a line over the range, the threshold dashed, and where the forecast heads. */
	function drawHistory() {
		const box = byTestId("history-chart");
		const empty = byTestId("history-empty");
		box.replaceChildren();
		if (!state.selected) return;
		empty.hidden = historyPoints.length > 0;
		empty.textContent = `No level of can ${state.selected} in the last ${historyRange < 48 ? `${historyRange} h` : `${historyRange / 24} d`}.`;
		const width = box.clientWidth || 400;
		const height = 180;
		const pad = { left: 34, right: 12, top: 10, bottom: 22 };
		const now = Date.now();
		const from = now - historyRange * 3600_000;
		// a quarter of the range beyond now, for the forecast
		const to = now + historyRange * 900_000;
		const x = t => pad.left + ((t - from) / (to - from)) * (width - pad.left - pad.right);
		const y = level => pad.top + (1 - level / 100) * (height - pad.top - pad.bottom);
		const chart = svg("svg", {
			viewBox: `0 0 ${width} ${height}`,
			width,
			height,
			role: "img",
			"data-testid": "history-svg",
			"data-points": historyPoints.length
		});
		chart.setAttribute("aria-label", `Fill level of can ${state.selected} over the last ${historyRange} hours`);
		for (const level of [0, 25, 50, 75, 100]) {
			chart.append(svg("line", { x1: pad.left, x2: width - pad.right, y1: y(level), y2: y(level), class: "grid" }));
			const label = svg("text", { x: pad.left - 6, y: y(level) + 4, "text-anchor": "end", class: "axis" });
			label.textContent = String(level);
			chart.append(label);
		}
		for (let i = 0; i <= 4; i++) {
			const t = from + ((to - from) * i) / 4;
			const label = svg("text", { x: x(t), y: height - 6, "text-anchor": i === 0 ? "start" : i === 4 ? "end" : "middle", class: "axis" });
			label.textContent = historyRange > 24 ? `${shortDate(t)} ${shortTime(t)}` : shortTime(t);
			chart.append(label);
		}
		chart.append(svg("line", { x1: x(now), x2: x(now), y1: pad.top, y2: height - pad.bottom, class: "now" }));
		const threshold = thresholdOf(state.selected);
		chart.append(svg("line", { x1: pad.left, x2: width - pad.right, y1: y(threshold), y2: y(threshold), class: "threshold" }));
		const inRange = historyPoints.map(p => [Date.parse(p.reportedAt), p.level]).filter(([t]) => t >= from && t <= to);
		if (inRange.length > 0) {
			chart.append(
				svg("polyline", {
					points: inRange.map(([t, level]) => `${x(t).toFixed(1)},${y(level).toFixed(1)}`).join(" "),
					class: "level",
					"data-testid": "history-line"
				})
			);
			if (inRange.length < 60) for (const [t, level] of inRange) chart.append(svg("circle", { cx: x(t), cy: y(level), r: 2.5, class: "point" }));
			// where the forecast heads: from the last level to the threshold at fullAt
			const can = state.cans.get(state.selected);
			const [lastT, lastLevel] = inRange[inRange.length - 1];
			const fullAt = can && can.fullAt && !(can.state === "full" || can.state === "overfull") ? Date.parse(can.fullAt) : null;
			if (fullAt && fullAt > lastT) {
				const endT = Math.min(fullAt, to);
				const endLevel = lastLevel + ((threshold - lastLevel) * (endT - lastT)) / (fullAt - lastT);
				chart.append(svg("line", { x1: x(lastT), y1: y(lastLevel), x2: x(endT), y2: y(endLevel), class: "forecast", "data-testid": "history-forecast" }));
			}
		}
		box.append(chart);
	}
	new ResizeObserver(() => state.selected && drawHistory()).observe(byTestId("history-chart"));

	// ---- workers and movies -----------------------------------------------------------------

	function renderWorkers(workers) {
		byTestId("workers").replaceChildren(
			...workers.map(worker => {
				const tr = document.createElement("tr");
				tr.dataset.testid = "worker";
				tr.dataset.type = worker.type;
				tr.innerHTML = `<th scope="row"></th><td class="nodes"></td><td class="num" data-testid="worker-instances"></td>`;
				tr.children[0].textContent = worker.type;
				tr.children[1].replaceChildren(
					...worker.nodes.map(nodeID => {
						const span = document.createElement("span");
						span.className = "node";
						span.dataset.testid = "worker-node";
						span.textContent = nodeID;
						return span;
					})
				);
				tr.children[2].textContent = String(worker.instances);
				return tr;
			})
		);
	}

	function renderMovies(total) {
		state.movies = total;
		byTestId("movies-count").textContent = String(total);
	}

	// ---- reports per second -----------------------------------------------------------------

	let chart = null;

	function setRateHistory(history) {
		const counts = new Map(history);
		// the gateway's current second is partial: shown now, replaced by its "rate" event when complete
		const last = Math.max(Math.floor(Date.now() / 1000) - 1, ...history.map(([t]) => t));
		state.rate.xs = [];
		state.rate.ys = [];
		for (let t = last - state.historySeconds + 1; t <= last; t++) {
			state.rate.xs.push(t);
			state.rate.ys.push(counts.get(t) || 0);
		}
		drawRate();
	}

	function addRate(second, count) {
		const { xs, ys } = state.rate;
		// seconds this page missed (a hidden tab, a slow network) count as unknown zeros
		while (xs.length > 0 && xs[xs.length - 1] < second - 1) {
			xs.push(xs[xs.length - 1] + 1);
			ys.push(0);
		}
		if (xs.length > 0 && xs[xs.length - 1] > second) return;
		if (xs.length > 0 && xs[xs.length - 1] === second) ys[ys.length - 1] = count;
		else {
			xs.push(second);
			ys.push(count);
		}
		while (xs.length > state.historySeconds) {
			xs.shift();
			ys.shift();
		}
		drawRate();
	}

	function drawRate() {
		const { xs, ys } = state.rate;
		byTestId("rate-now").textContent = String(ys.length ? ys[ys.length - 1] : 0);
		byTestId("rate-peak").textContent = String(ys.reduce((a, b) => Math.max(a, b), 0));
		const box = document.getElementById("rate-chart");
		if (!chart) {
			chart = new uPlot(
				{
					width: box.clientWidth || 300,
					height: 180,
					legend: { show: false },
					cursor: { y: false },
					scales: { y: { range: (_u, _min, max) => [0, Math.max(5, Math.ceil(max * 1.1))] } },
					series: [{}, { label: "level updates/s", stroke: "#2563eb", fill: "rgba(37, 99, 235, 0.12)", width: 2, points: { show: false } }],
					axes: [
						{ stroke: "#475569", grid: { stroke: "#e2e8f0" } },
						{ stroke: "#475569", grid: { stroke: "#e2e8f0" }, size: 48 }
					]
				},
				[xs, ys],
				box
			);
			new ResizeObserver(() => chart.setSize({ width: box.clientWidth, height: 180 })).observe(box);
		} else chart.setData([xs, ys]);
	}

	connect();
})();
