/**
 * `verdict` (decorator): rolls every plugin's `findings` over the whole scan into a score and a
 * verdict (clean, suspicious, malicious, unknown) with the top findings, each with its points,
 * why, and the path of the payload it was found on. Scoring: plugins/lib/verdict/score.ts.
 */
import type { StoqAPI } from "../core/engine/plugin.ts";
import { DEFAULT_SCORING, judge, SEVERITY_ORDER } from "./lib/verdict/score.ts";

export default (stoq: StoqAPI) => {
  const z = stoq.z;
  const points = (n: number) => z.number().min(0).max(1_000_000).default(n);
  const d = DEFAULT_SCORING;
  const severity = z.enum(SEVERITY_ORDER as [string, ...string[]]);
  return stoq.plugin({
    name: "verdict",
    version: "1.0.0",
    description:
      "Scores the scan's findings (points by severity, overrides per finding) into a verdict",
    classes: ["decorator"],
    options: {
      info: points(d.points.info),
      low: points(d.points.low),
      medium: points(d.points.medium),
      high: points(d.points.high),
      critical: points(d.points.critical),
      suspicious: points(d.suspicious),
      malicious: points(d.malicious),
      // "plugin:id", "plugin:*" or "id" → points, or a severity whose points it takes.
      overrides: z.record(
        z.string().regex(
          /^(?:[a-z0-9_]+:)?(?:[a-z0-9][a-z0-9_.-]*|\*)$/,
          'a key is "plugin:id", "plugin:*" or "id"',
        ),
        z.union([z.number().min(0).max(1_000_000), severity]),
      ).default({}),
      top: z.number().int().min(1).max(1000).default(d.top),
    },
    create(opts) {
      if (opts.malicious < opts.suspicious) {
        throw new Error(
          `verdict: malicious (${opts.malicious}) must not be below suspicious (${opts.suspicious})`,
        );
      }
      const scoring = {
        points: {
          info: opts.info,
          low: opts.low,
          medium: opts.medium,
          high: opts.high,
          critical: opts.critical,
        },
        suspicious: opts.suspicious,
        malicious: opts.malicious,
        overrides: opts.overrides as typeof d.overrides,
        top: opts.top,
      };
      return { decorate: (response) => ({ results: judge(response, scoring) }) };
    },
  });
};
