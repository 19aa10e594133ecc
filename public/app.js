// The live dashboard: one EventSource on /events. Its first message is the whole state (a
// snapshot), later ones are changes; after any reconnect a new snapshot replaces everything,
// so nothing missed while the gateway was away stays wrong.
"use strict";

(() => {
	const state = {
		threshold: 80,
		historySeconds: 300,
		/** canId → {canId, level, reportedAt, receivedAt} */
		cans: new Map(),
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
		}
		if (added) renderAllCans();
		else renderSummary();
	}

	// ---- cans -------------------------------------------------------------------------------

	function canElement(can) {
		const el = document.createElement("article");
		el.className = "can";
		el.dataset.testid = "can";
		el.dataset.canId = can.canId;
		el.innerHTML = `<div class="can-head"><span class="can-id"></span><span class="can-level" data-testid="can-level"></span></div>
			<div class="bar" role="meter" aria-valuemin="0" aria-valuemax="100"><div class="fill"></div></div>
			<div class="can-time" data-testid="can-time"><span class="label">reported </span><span class="when"></span></div>`;
		el.querySelector(".can-id").textContent = `Can ${can.canId}`;
		// a long id is cut on a phone; the whole one on hover or long press
		el.querySelector(".can-id").title = `Can ${can.canId}`;
		el.querySelector(".bar").setAttribute("aria-label", `Can ${can.canId} fill level`);
		updateCan(el, can);
		return el;
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

	// "12 s ago" moves on even when nothing reports
	setInterval(() => {
		for (const [canId, el] of state.canEls) {
			const can = state.cans.get(canId);
			el.querySelector(".when").textContent = `${clock(can.reportedAt)} · ${ago(can.reportedAt)}`;
		}
		for (const li of byTestId("full-cans").children) li.children[2].textContent = ago(state.cans.get(li.dataset.canId).reportedAt);
	}, 1000);

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
