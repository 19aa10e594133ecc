/** The dashboard check reads metric names out of PromQL: it must find every one, and nothing else. */
import { metricNamesIn, parseMetrics } from "../support/metrics";

it.each([
	['sum by (action) (rate(moleculer_request_total{action!~"\\\\$.*"}[1m]))', ["moleculer_request_total"]],
	["histogram_quantile(0.99, sum by (le, action) (rate(moleculer_request_time_bucket[5m]))) > 1000", ["moleculer_request_time_bucket"]],
	['sum(rate(a_total[5m])) > 0 and sum(rate(b_total[5m]) + rate(c_total{reason="level"}[5m])) == 0', ["a_total", "b_total", "c_total"]],
	['up{job="trash-bus"} == 0', ["up"]],
	["max by (can_id) (trash_can_level) >= bool 80", ["trash_can_level"]]
])("%s reads %j", (expr, names) => {
	expect(metricNamesIn(expr).sort()).toEqual(names);
});

it("parses the reporter's sample lines, labels and all", () => {
	const text = '# HELP x X\n# TYPE x counter\nx{service="db",type="request"} 3\ny 1.5\nz{le="+Inf",q="a\\"b"} NaN\n';
	expect(parseMetrics(text)).toEqual([
		{ name: "x", labels: { service: "db", type: "request" }, value: 3 },
		{ name: "y", labels: {}, value: 1.5 },
		{ name: "z", labels: { le: "+Inf", q: 'a"b' }, value: NaN }
	]);
});
