// The run report, pure: one static HTML page per catalogRebuild run, from its summary and (when its
// history could be read) its timeline. No script, no outside resource: a Content-Security-Policy
// allows inline styles only. Every value is escaped: package, image, tag and CVE names come from
// catalogs and feeds, errors from tools. activities/run-report.ts writes it under the state directory.
import { describeLimitWait } from './host-limits.js';
import { describeSource } from './source.js';
import { describeTarget } from './target.js';
import type { RunTimeline } from './run-timeline.js';
import { Html, badge, code, countLine, firstLine, html, kib, link, mib, short, took, workflowUrl } from './html.js';
import { childOf, timelineSection } from './report-timeline.js';
import { STYLE } from './report-style.js';
import type { ImageOutcome, PackageOutcome, RebuildSummary } from './summary.js';
import { packageOk } from './summary.js';

export { escapeHtml, took, workflowUrl } from './html.js';

export interface RunReportInput {
  summary: RebuildSummary;
  /** The Temporal Web UI's base URL (config.temporal.webUi): links to the run and its workflows. */
  webUi?: string;
  /** The run's namespace (config.temporal.namespace). */
  namespace: string;
  /** The run's stages from its history; without it the report draws each item's duration only. */
  timeline?: RunTimeline;
  /** Why there is no timeline, or what is missing from it (shown above the timeline). */
  timelineNote?: string;
  /** When the report was written (RFC 3339). */
  generatedAt: string;
}

function packageNotes(p: PackageOutcome): Html[] {
  const notes: Html[] = [];
  if (p.blockedBy) notes.push(html`blocked by <b>${p.blockedBy}</b>`);
  if (p.error) notes.push(html`<span class="bad-text">${firstLine(p.error)}</span>`);
  if (p.dependenciesChanged?.length)
    notes.push(html`published build kept; its dependencies changed since: ${p.dependenciesChanged.join(' ')}`);
  const rep = p.reproducibility;
  if (rep && !rep.identical)
    notes.push(
      html`differs from the published build:
      ${rep.differences.map(
        (d, i) =>
          html`${i ? '; ' : ''}${code(d.file)} ${d.publishedSize ?? 'absent'} → ${d.rebuiltSize ?? 'absent'}
          bytes${
            d.entries.length
              ? html`, differing:
                ${d.entries
                  .slice(0, 8)
                  .map((e) => (e.change === 'changed' ? e.path : `${e.path} (${e.change})`))
                  .join(', ')}${d.entries.length > 8 ? `, ${d.entries.length - 8} more` : ''}`
              : ''
          }`,
      )}${rep.rebuiltDir ? html` (rebuilt APKs in ${code(rep.rebuiltDir)})` : ''}`,
    );
  if (p.epochBump)
    notes.push(
      html`epoch ${p.epochBump.epoch} committed on ${code(p.epochBump.branch)}
      (${code(short(p.epochBump.commit), p.epochBump.commit)})`,
    );
  return notes;
}

function abiCell(p: PackageOutcome): Html {
  if (!p.abi) return html`-`;
  const { verdict, removed, rebuild, reason } = p.abi;
  return html`<span class="verdict">${verdict}</span>${
      removed.length ? html`<br /><small>removed ${removed.join(' ')}; rebuild ${rebuild.join(' ') || '-'}</small>` : ''
    }${reason ? html`<br /><small>${reason}</small>` : ''}`;
}

function apkCell(p: PackageOutcome): Html {
  const apks = Object.entries(p.apks ?? {}).flatMap(([arch, files]) => files.map((f) => ({ arch, ...f })));
  if (!apks.length) return html`-`;
  return html`${apks.map((a, i) => html`${i ? html`<br />` : ''}${code(a.file)} <small>${a.arch}</small> ${code(`sha256:${a.sha256}`)}`)}`;
}

function packagesSection(r: RunReportInput): Html {
  const { summary } = r;
  if (!summary.packages.length)
    return html`<section id="packages">
      <h2>Packages</h2>
      <p>none in this run</p>
    </section>`;
  return html`<section id="packages">
    <h2>Packages <small>${countLine(summary.packages)}</small></h2>
    <table class="items">
      <thead>
        <tr>
          <th>package</th>
          <th>version</th>
          <th>status</th>
          <th>time</th>
          <th>tests</th>
          <th>ABI</th>
          <th>SBOM</th>
          <th>CVEs</th>
          <th>signed by</th>
          <th>APKs</th>
          <th>notes</th>
        </tr>
      </thead>
      <tbody>
        ${summary.packages.map((p) => {
          const child = childOf(r.timeline, 'packageBuild', p.name);
          return html`<tr id="package-${p.name}" class="${packageOk(p) ? '' : 'row-bad'}">
            <th scope="row">
              ${link(child ? workflowUrl(r.webUi, r.namespace, child.workflowId, child.runId) : undefined, p.name)}
            </th>
            <td>${p.version}-r${p.epoch}</td>
            <td>${badge(p.status)}</td>
            <td>${p.status === 'blocked' ? '-' : took(p.durationMs)}</td>
            <td>${p.tested ? 'passed' : '-'}</td>
            <td>${abiCell(p)}</td>
            <td>${p.sbom ? 'yes' : '-'}</td>
            <td>
              ${
                p.vulnerabilities
                  ? p.vulnerabilities.length
                    ? html`${p.vulnerabilities.length}:
                      ${p.vulnerabilities.map((v, i) => html`${i ? ', ' : ''}<span class="cve">${v.id}</span>`)}`
                    : '0'
                  : '-'
              }
            </td>
            <td>${p.signedBy ?? '-'}</td>
            <td>${apkCell(p)}</td>
            <td>${packageNotes(p).map((n, i) => html`${i ? html`<br />` : ''}${n}`)}</td>
          </tr> `;
        })}
      </tbody>
    </table>
  </section>`;
}

function epochBumpsSection(summary: RebuildSummary): Html {
  const bumps = summary.epochBumps ?? [];
  if (!bumps.length) return html``;
  return html`<section id="epoch-bumps">
    <h2>Epoch bumps <small>allowed ABI breaks; published builds are never replaced</small></h2>
    <ul>
      ${bumps.map(
        (b) =>
          html`<li>
            ${b.because}:
            ${b.packages.map((p, i) => html`${i ? ', ' : ''}<b>${p.name}</b> ${p.epoch} → ${p.newEpoch ?? p.epoch + 1}`)}${
              b.notInCatalog.length ? html`; not in this catalog: ${b.notInCatalog.join(' ')}` : ''
            }${b.branch ? html` on branch ${code(b.branch)}` : ''}${b.commit ? html` (commit ${code(short(b.commit), b.commit)})` : ''}${
              b.error ? html` <span class="bad-text">NOT COMMITTED: ${firstLine(b.error)}</span>` : ''
            }
          </li> `,
      )}
    </ul>
  </section>`;
}

function imageCves(i: ImageOutcome): Html {
  if (i.scanned === false) return html`<span class="muted">not scanned</span>`;
  if (!i.scanned) return html`-`;
  const v = i.vulnerabilities ?? [];
  return v.length
    ? html`${v.length}:
      ${v.map((x, n) => html`${n ? ', ' : ''}<span class="cve">${x.id}</span> <small>${x.severity}</small>`)}`
    : html`0`;
}

function imageChange(i: ImageOutcome): Html {
  const d = i.diff;
  if (!d) return html`-`;
  const changes = [...d.added.map((n) => `+${n}`), ...d.removed.map((n) => `-${n}`), ...d.changed.map((n) => `~${n}`)];
  return html`vs ${code(short(d.previous), d.previous)}:
  ${kib(d.sizeDelta)}${changes.length ? html`<br /><small>${changes.join(' ')}</small>` : ''}`;
}

function imagesSection(r: RunReportInput): Html {
  const { summary } = r;
  if (!summary.images.length)
    return html`<section id="images">
      <h2>Images</h2>
      <p>none in this run</p>
    </section>`;
  return html`<section id="images">
    <h2>Images <small>${countLine(summary.images)}</small></h2>
    <table class="items">
      <thead>
        <tr>
          <th>image</th>
          <th>status</th>
          <th>time</th>
          <th>CVEs</th>
          <th>digest</th>
          <th>tags</th>
          <th>change from the previous image</th>
          <th>size</th>
          <th>notes</th>
        </tr>
      </thead>
      <tbody>
        ${summary.images.map((i) => {
          const child = childOf(r.timeline, 'imageBuild', i.name);
          const good = i.status === 'published' || i.status === 'unchanged';
          return html`<tr id="image-${i.name}" class="${good ? '' : 'row-bad'}">
            <th scope="row">
              ${link(child ? workflowUrl(r.webUi, r.namespace, child.workflowId, child.runId) : undefined, i.name)}
            </th>
            <td>${badge(i.status)}</td>
            <td>${i.status === 'blocked' ? '-' : took(i.durationMs)}</td>
            <td>${imageCves(i)}</td>
            <td>
              ${i.digest ? html`${code(i.digest)}${i.reference ? html`<br /><small>${i.reference}</small>` : ''}` : '-'}
            </td>
            <td>
              ${i.tags.map((t) => html`<span class="tag">${t}</span> `)}${
                i.tagsKept?.length
                  ? html`<br /><small
                        >kept
                        ${i.tagsKept.map((k, n) => html`${n ? ', ' : ''}${k.tag} at ${code(short(k.digest), k.digest)}`)}
                        (built from a newer catalog)</small
                      >`
                  : ''
              }
            </td>
            <td>${imageChange(i)}</td>
            <td>
              ${i.sizeBytes !== undefined ? mib(i.sizeBytes) : '-'}${
                i.packages?.length
                  ? html`<details>
                      <summary>${i.packages.length} packages</summary>
                      <small>${i.packages.join(' ')}</small>
                    </details>`
                  : ''
              }
            </td>
            <td>
              ${i.blockedBy ? html`blocked by <b>${i.blockedBy}</b>` : ''}${i.error ? html`<span class="bad-text">${firstLine(i.error)}</span>` : ''}
            </td>
          </tr> `;
        })}
      </tbody>
    </table>
  </section>`;
}

function vulnerabilitiesSection(summary: RebuildSummary): Html {
  const rows = [
    ...summary.images.flatMap((i) =>
      (i.vulnerabilities ?? []).map((v) => ({
        id: v.id,
        severity: v.severity,
        where: html`image <b>${i.name}</b>`,
        pkg: v.origin && v.origin !== v.package ? `${v.package} (origin ${v.origin})` : v.package,
        fixedIn: v.fixedIn,
      })),
    ),
    ...summary.packages.flatMap((p) =>
      (p.vulnerabilities ?? []).map((v) => ({
        id: v.id,
        severity: '-',
        where: html`package <b>${p.name}</b>`,
        pkg: p.name,
        fixedIn: v.fixedIn,
      })),
    ),
  ];
  const scanned = summary.images.filter((i) => i.scanned).length;
  const unscanned = summary.images.filter((i) => i.scanned === false).length;
  return html`<section id="vulnerabilities">
    <h2>Vulnerabilities</h2>
    <p>
      ${scanned} image${scanned === 1 ? '' : 's'}
      scanned${unscanned ? html`, ${unscanned} not scanned (the catalog configures no vulnerability feed)` : ''}.
    </p>
    ${
      rows.length
        ? html`<table class="items">
            <thead>
              <tr>
                <th>CVE</th>
                <th>severity</th>
                <th>in</th>
                <th>package</th>
                <th>fixed in</th>
              </tr>
            </thead>
            <tbody>
              ${rows.map(
                (v) =>
                  html`<tr>
                    <td class="cve">${v.id}</td>
                    <td>${v.severity}</td>
                    <td>${v.where}</td>
                    <td>${v.pkg}</td>
                    <td>${v.fixedIn}</td>
                  </tr> `,
              )}
            </tbody>
          </table>`
        : html`<p>No known CVEs.</p>`
    }
  </section>`;
}

function failuresSection(summary: RebuildSummary): Html {
  const failures = [
    ...summary.packages.filter((p) => p.error).map((p) => ({ kind: 'package', name: p.name, error: p.error! })),
    ...summary.images.filter((i) => i.error).map((i) => ({ kind: 'image', name: i.name, error: i.error! })),
  ];
  if (!failures.length) return html``;
  return html`<section id="failures">
    <h2>Failures</h2>
    ${failures.map(
      (f) =>
        html`<h3>${f.kind} ${f.name}</h3>
          <pre>${f.error.split('\n').slice(0, 200).join('\n')}</pre> `,
    )}
  </section>`;
}

/** The run report: a whole HTML document. */
export function renderRunReport(r: RunReportInput): string {
  const s = r.summary;
  const runUrl = workflowUrl(r.webUi, r.namespace, s.workflowId, s.runId);
  const outcome = s.ok ? 'succeeded' : 'finished with failures';
  const page = html`<!doctype html>
    <html lang="en">
      <head>
        <meta charset="utf-8" />
        <meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'" />
        <meta name="viewport" content="width=device-width, initial-scale=1" />
        <title>kiln run ${s.workflowId}: ${outcome}</title>
        <style>
          ${new Html(STYLE)}
        </style>
      </head>
      <body>
        <header>
          <h1>
            kiln catalog rebuild ${badge(s.ok ? 'success' : 'failures')}
            <small>${outcome} in ${took(Date.parse(s.finishedAt) - Date.parse(s.startedAt))}</small>
          </h1>
          <dl class="run">
            <dt>run</dt>
            <dd>
              ${link(runUrl, html`${s.workflowId} / ${s.runId}`, 'run-link')}${runUrl ? html` <small>(Temporal Web UI)</small>` : ''}
            </dd>
            <dt>started</dt>
            <dd>${s.startedAt}</dd>
            <dt>finished</dt>
            <dd>${s.finishedAt}</dd>
            <dt>catalog</dt>
            <dd>${code(s.catalogDigest)}${s.gitCommit ? html` git ${code(s.gitCommit)}` : ''}</dd>
            ${
              s.source
                ? html`<dt>source</dt>
                    <dd>${describeSource(s.source)}</dd>`
                : ''
            }
            ${
              s.target
                ? html`<dt>target</dt>
                    <dd>${describeTarget(s.target)}</dd>`
                : ''
            }
            ${(s.limits ?? []).map(
              (l) =>
                html`<dt>rate limit</dt>
                  <dd>${describeLimitWait(l)}</dd>`,
            )}
            <dt>packages</dt>
            <dd>${countLine(s.packages)}</dd>
            <dt>images</dt>
            <dd>${countLine(s.images)}</dd>
          </dl>
        </header>
        ${timelineSection(r)} ${packagesSection(r)} ${epochBumpsSection(s)} ${imagesSection(r)}
        ${vulnerabilitiesSection(s)} ${failuresSection(s)}
        <footer>
          <p class="muted">
            Written by kiln at ${r.generatedAt}. Point at a bar for its stage, start and duration; open a row's stages
            for the list.
          </p>
        </footer>
      </body>
    </html> `;
  return page.text;
}
