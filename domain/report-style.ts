// Domain (pure): the run report's stylesheet, inline in the page (no outside resource is loaded).
export const STYLE = `
:root{--good:#1a7f37;--bad:#cf222e;--warn:#9a6700;--muted:#57606a;--line:#d0d7de}
body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",sans-serif;margin:1.5rem auto;max-width:1400px;padding:0 1rem;color:#1f2328}
h1{font-size:1.5rem;margin:0 0 .5rem}h2{font-size:1.2rem;margin-top:2rem;border-bottom:1px solid var(--line)}
h2 small{font-weight:normal;font-size:.85rem;margin-left:.5rem}
dl.run{display:grid;grid-template-columns:max-content 1fr;gap:.2rem 1rem;margin:0}dl.run dt{color:var(--muted)}dl.run dd{margin:0}
code{font:12px ui-monospace,SFMono-Regular,Menlo,monospace;word-break:break-all}
table.items{border-collapse:collapse;width:100%}table.items th,table.items td{border-bottom:1px solid var(--line);padding:.35rem .5rem;text-align:left;vertical-align:top}
table.items thead th{background:#f6f8fa;font-weight:600}tr.row-bad{background:#fff5f5}
.badge{display:inline-block;padding:0 .45rem;border-radius:1rem;font-size:.8rem;font-weight:600;border:1px solid currentColor}
.badge.good{color:var(--good)}.badge.bad{color:var(--bad)}.badge.warn{color:var(--warn)}.badge.neutral{color:var(--muted)}
.bad-text{color:var(--bad)}.muted{color:var(--muted)}.note{background:#fff8c5;padding:.4rem .6rem;border-radius:4px}
.cve{font-weight:600}.tag{display:inline-block;background:#ddf4ff;border-radius:4px;padding:0 .35rem;font:12px ui-monospace,monospace}
pre{background:#f6f8fa;padding:.6rem;overflow:auto;max-height:24rem;white-space:pre-wrap}
.timeline{border:1px solid var(--line);border-radius:4px}
.tl-row{display:grid;grid-template-columns:22rem 1fr;border-bottom:1px solid #eaeef2}.tl-row:last-child{border-bottom:0}
.tl-label{padding:.3rem .5rem;overflow:hidden}.tl-track{position:relative;min-height:1.6rem;background:repeating-linear-gradient(90deg,transparent 0 24.9%,#eaeef2 24.9% 25%)}
.tl-axis .tl-track{min-height:1.2rem}.tick{position:absolute;top:0;font-size:.75rem;color:var(--muted);transform:translateX(-50%)}.tick:first-child{transform:none}.tick:last-child{transform:translateX(-100%)}
.lane{position:absolute;top:.55rem;height:.5rem;background:#eaeef2;border-radius:2px}
.seg{position:absolute;top:.3rem;height:1rem;border-radius:2px;opacity:.9}.seg.wait{opacity:.3}
.seg.o-failed,.seg.o-timed-out,.seg.o-terminated{outline:2px solid var(--bad)}.seg.o-running{background-image:repeating-linear-gradient(45deg,transparent 0 4px,#fff8 4px 8px)}
.swatch{display:inline-block;width:.8rem;height:.8rem;border-radius:2px;margin-right:.3rem;vertical-align:-1px}.swatch.wait{opacity:.3}
.legend .key{margin-right:.8rem;white-space:nowrap}
details.stages summary{cursor:pointer;color:var(--muted);font-size:.85rem}table.stage-list{font-size:.8rem;border-collapse:collapse}table.stage-list td,table.stage-list th{padding:0 .4rem;text-align:left}
.s0{background:#6e4b00}.s1{background:#8c8c8c}.s2{background:#e45756}.s3{background:#f28e2b}.s4{background:#b07aa1}.s5{background:#4e79a7}.s6{background:#ff9da7}.s7{background:#59a14f}.s8{background:#76b7b2}.s9{background:#9c755f}
.s10{background:#edc948}.s11{background:#bab0ac}.s12{background:#2f4b7c}.s13{background:#1f77b4}.s14{background:#17becf}.s15{background:#9467bd}.s16{background:#e377c2}.s17{background:#2ca02c}.s18{background:#7f7f7f}.s19{background:#bcbd22}
`;
