/** The seed report format: what a can may send, and what it becomes. */
import { seededRandom } from "../support/random";
import { byCanId, checkReport, reportTimeMs, reportVersion } from "../../lib/ingest/report";

const fallback = { id: "bus-1", reportedAt: "2026-01-01T00:00:00.000Z" };

describe("checkReport accepts the seed format and normalises it", () => {
	it.each([
		[
			{ can_id: "333", level: "30.65" },
			{ id: "bus-1", canId: "333", level: 30.65, reportedAt: fallback.reportedAt }
		],
		[
			{ can_id: 333, level: 30 },
			{ id: "bus-1", canId: "333", level: 30, reportedAt: fallback.reportedAt }
		],
		[
			{ canId: " 7 ", level: " 0 " },
			{ id: "bus-1", canId: "7", level: 0, reportedAt: fallback.reportedAt }
		],
		[
			{ can_id: "a-1", level: 100, id: "r-9", reportedAt: "2026-01-01T00:00:05Z" },
			{ id: "r-9", canId: "a-1", level: 100, reportedAt: "2026-01-01T00:00:05.000Z" }
		],
		[
			{ can_id: "1", level: 1, reportedAt: 1767225600000 },
			{ id: "bus-1", canId: "1", level: 1, reportedAt: "2026-01-01T00:00:00.000Z" }
		],
		[
			{ can_id: "1", level: 1, extra: "dropped" },
			{ id: "bus-1", canId: "1", level: 1, reportedAt: fallback.reportedAt }
		]
	])("%j", (raw, report) => {
		expect(checkReport(raw, fallback)).toEqual({ ok: true, report });
	});
});

describe("checkReport rejects, naming the field", () => {
	it.each([
		["level abc", { can_id: "1", level: "abc" }, "level"],
		["level empty", { can_id: "1", level: "" }, "level"],
		["level -1", { can_id: "1", level: -1 }, "level"],
		["level 101", { can_id: "1", level: "101" }, "level"],
		["level Infinity", { can_id: "1", level: "Infinity" }, "level"],
		["level hex", { can_id: "1", level: "0x10" }, "level"],
		["level missing", { can_id: "1" }, "level"],
		["level null", { can_id: "1", level: null }, "level"],
		["can id missing", { level: 1 }, "can_id"],
		["can id blank", { can_id: "  ", level: 1 }, "can_id"],
		["can id object", { can_id: { $ne: 1 }, level: 1 }, "can_id"],
		["can id negative number", { can_id: -3, level: 1 }, "can_id"],
		["can id too long", { can_id: "c".repeat(65), level: 1 }, "can_id"],
		["reportedAt garbage", { can_id: "1", level: 1, reportedAt: "soon" }, "reportedAt"],
		["reportedAt far future", { can_id: "1", level: 1, reportedAt: Date.now() + 3_600_000 }, "reportedAt"],
		["id with spaces", { id: "a b", can_id: "1", level: 1 }, "id"]
	])("%s", (_name, raw, field) => {
		const res = checkReport(raw, fallback);
		expect(res.ok).toBe(false);
		if (!res.ok) {
			expect(res.errors.map(e => e.field)).toContain(field);
			expect(res.reason).toMatch(field === "can_id" ? /can_id/ : new RegExp(field));
		}
	});

	it.each([[null], ["text"], [42], [[{ can_id: "1", level: 1 }]]])("a non-object: %j", raw => {
		expect(checkReport(raw, fallback)).toMatchObject({ ok: false, reason: "The report must be a JSON object." });
	});
});

describe("reportVersion orders the reports of a can", () => {
	const stored = reportVersion({ reportedAt: "2026-01-01T00:00:10Z", id: "m" });
	it("a later report sorts after, an earlier one before", () => {
		expect(reportVersion({ reportedAt: "2026-01-01T00:00:11Z", id: "a" }) > stored).toBe(true);
		expect(reportVersion({ reportedAt: "2026-01-01T00:00:09.999Z", id: "z" }) < stored).toBe(true);
	});
	it("the same report again is equal, so it changes nothing", () => {
		expect(reportVersion({ reportedAt: "2026-01-01T00:00:10.000Z", id: "m" })).toBe(stored);
	});
	it("a tie on time is broken by id, the same way everywhere", () => {
		expect(reportVersion({ reportedAt: "2026-01-01T00:00:10.000Z", id: "n" }) > stored).toBe(true);
		expect(reportVersion({ reportedAt: "2026-01-01T00:00:10.000Z", id: "l" }) < stored).toBe(true);
	});
	it("orders by time, not by how the time was written", () => {
		expect(reportVersion({ reportedAt: "2026-01-01T01:00:00+01:00", id: "a" })).toBe(reportVersion({ reportedAt: "2026-01-01T00:00:00.000Z", id: "a" }));
		expect(reportVersion({ reportedAt: "2026-01-01T00:00:02Z", id: "a" }) > reportVersion({ reportedAt: "2026-01-01T00:00:10Z", id: "a" })).toBe(false);
	});
});

it("reportTimeMs reads any stored report time (a valid one) as Date.parse does", () => {
	const random = seededRandom(7);
	// from year 100 to 9999, and the few it hands to Date.parse
	const times = Array.from({ length: 2_000 }, () => new Date(-59_000_000_000_000 + random() * 312_000_000_000_000).toISOString());
	times.push("0099-12-31T23:59:59.999Z", "2026-01-01T00:00:00Z", "2026-01-01T01:00:00+01:00", "+010000-01-01T00:00:00.000Z");
	for (const t of times) expect([t, reportTimeMs(t)]).toEqual([t, Date.parse(t)]);
});

it("byCanId sorts numerically where ids are numbers", () => {
	expect(["10", "9", "301", "b", "a2", "a10"].sort(byCanId)).toEqual(["9", "10", "301", "a2", "a10", "b"]);
});
