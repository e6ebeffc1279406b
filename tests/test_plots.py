#!/usr/bin/python3
"""The figures of `ecore report --plots` on real sweeps, checked in a real renderer.

  test_plots.py ECORE CONFIG

Runs CONFIG (tests/configs/tiny.yaml: about a second) twice: as it is (5 groups, one panel per
figure) and with an ec.lambda_cu axis of three values (11 groups: small multiples), then
writes the plots of each and checks every figure:
  - it renders with rsvg-convert (librsvg) at its declared size;
  - nothing is drawn outside the plot rectangles: the data layers alone (`g.data`), rendered,
    have no pixel outside the frames (`rect.frame`), and every coordinate they draw lies
    inside their own panel's frame; every panel draws something;
  - the y range is fitted: a panel's data spans most of its height (6% margins);
  - per supervision point: the lines of one panel never share an x (dodged), so coinciding
    values stay visible;
  - the legend names every group, the grid axis that tells them apart and its values.
Exit 77 (skipped) when rsvg-convert or Python's PIL is missing (dev.sh installs librsvg2-bin
and python3-pil).
"""
import os
import re
import shutil
import subprocess
import sys
import tempfile
import xml.etree.ElementTree as ET

NS = "{http://www.w3.org/2000/svg}"
FIGURES = ["cka_original", "cka_retrain", "knn_forget_acc", "tradeoff_test_retain_acc",
           "tradeoff_cka_original"]
failures = 0


def check(ok, what):
    global failures
    if not ok:
        failures += 1
        print(f"FAIL: {what}", file=sys.stderr)


def render(svg_path, png_path):
    p = subprocess.run(["rsvg-convert", svg_path, "-o", png_path], capture_output=True, text=True)
    check(p.returncode == 0, f"rsvg-convert {svg_path}: {p.stderr.strip()}")
    return p.returncode == 0


def frame_of(el):
    return tuple(float(el.get(k)) for k in ("x", "y", "width", "height"))


def coords(el):
    """Every (x, y) a data element draws (markers: their bounding points)."""
    tag = el.tag[len(NS):]
    nums = lambda s: [float(v) for v in re.findall(r"-?\d+(?:\.\d+)?", s)]
    if tag in ("polyline", "polygon"):
        v = nums(el.get("points"))
    elif tag == "path":
        v = nums(el.get("d"))
    elif tag == "circle":
        cx, cy, r = (float(el.get(k)) for k in ("cx", "cy", "r"))
        v = [cx - r, cy - r, cx + r, cy + r]
    elif tag == "rect":
        x, y, w, h = frame_of(el)
        v = [x, y, x + w, y + h]
    else:
        return []
    return list(zip(v[0::2], v[1::2]))


def inside(pt, fr, tol=0.0):
    x, y, w, h = fr
    return x - tol <= pt[0] <= x + w + tol and y - tol <= pt[1] <= y + h + tol


def check_figure(svg_path, name, legend_words):
    from PIL import Image

    tree = ET.parse(svg_path)
    root = tree.getroot()
    check(root.tag == NS + "svg", f"{svg_path}: an SVG document")
    width, height = int(root.get("width")), int(root.get("height"))
    png = svg_path[:-4] + ".png"
    if render(svg_path, png):
        check(Image.open(png).size == (width, height), f"{svg_path}: renders at {width}x{height}")

    # Panels: each frame is followed by its data layer.
    children = list(root)
    frames, datas = [], []
    for i, el in enumerate(children):
        if el.get("class") == "frame":
            frames.append(frame_of(el))
        if el.get("class") == "data":
            datas.append((frames[-1] if frames else None, el))
    check(len(frames) >= 1 and len(frames) == len(datas), f"{svg_path}: one data layer per panel")
    for fr, data in datas:
        pts = [pt for el in data.iter() for pt in coords(el)]
        check(len(pts) > 0, f"{svg_path}: a panel draws nothing")
        out = [pt for pt in pts if fr is None or not inside(pt, fr)]
        check(not out, f"{svg_path}: {len(out)} coordinates outside their panel, e.g. {out[:3]}")
        if pts and fr:
            ys = [p[1] for p in pts]
            check(max(ys) - min(ys) > 0.8 * fr[3],
                  f"{svg_path}: data spans {max(ys) - min(ys):.0f} of {fr[3]:.0f} px (y not fitted)")
        if not name.startswith("tradeoff") and fr:
            xs = [set(round(p[0], 1) for p in coords(pl)) for pl in data.iter(NS + "polyline")]
            clash = [(a, b) for a in range(len(xs)) for b in range(a) if xs[a] & xs[b]]
            check(not clash, f"{svg_path}: lines {clash[:2]} share an x (not dodged)")

    # The data layers alone, rendered: no pixel outside the frames (1.5 px for antialiasing).
    only = ET.Element(root.tag, root.attrib)
    for _, data in datas:
        only.append(data)
    data_svg = svg_path[:-4] + ".data.svg"
    ET.ElementTree(only).write(data_svg)
    if render(data_svg, data_svg[:-4] + ".png"):
        from PIL import ImageDraw
        alpha = Image.open(data_svg[:-4] + ".png").convert("RGBA").getchannel("A")
        for x, y, w, h in frames:
            drawn = alpha.crop((int(x), int(y), int(x + w) + 1, int(y + h) + 1)).getbbox()
            check(drawn is not None, f"{svg_path}: nothing rendered in the panel at {x, y}")
        outside = alpha.copy()
        for x, y, w, h in frames:  # blank the plot rectangles; what is left is outside
            ImageDraw.Draw(outside).rectangle((x - 1.5, y - 1.5, x + w + 1.5, y + h + 1.5), fill=0)
        box = outside.getbbox()
        check(box is None, f"{svg_path}: data pixels outside the plot rectangles, in {box}")

    texts = {t.text for t in root.iter(NS + "text") if t.text}
    for w in legend_words:
        check(w in texts, f"{svg_path}: the legend names '{w}'")
    return len(frames)


def main():
    ecore, config = sys.argv[1], sys.argv[2]
    if not shutil.which("rsvg-convert"):
        print("skipped: rsvg-convert missing (Debian: librsvg2-bin)")
        return 77
    try:
        import PIL  # noqa: F401
    except ImportError:
        print("skipped: Python's PIL missing (Debian: python3-pil)")
        return 77
    env = dict(os.environ, OPENBLAS_NUM_THREADS="1")
    grid = "sweep.grid={unlearn.method: [none, ft, ga], ec.enabled: [false, true], " \
           "ec.lambda_cu: [1, 2, 3]}"
    cases = [("plain", [], ["EC alone", "ft", "ft + EC", "ga + EC", "original", "retrain"], 1),
             ("grid", ["--set", grid], ["ec.lambda_cu", "1", "2", "3", "ga + EC", "retrain"], 3)]
    with tempfile.TemporaryDirectory() as tmp:
        for label, extra, words, panels in cases:
            out = os.path.join(tmp, label + ".h5")
            p = subprocess.run([ecore, "sweep", config, "--quiet", "--out", out, "--set",
                                "output.cache_dir=" + os.path.join(tmp, "cache")] + extra,
                               cwd=tmp, env=env, capture_output=True, text=True)
            check(p.returncode == 0, f"{label} sweep exited {p.returncode}: {p.stderr[-2000:]}")
            plots = os.path.join(tmp, label + "_plots")
            p = subprocess.run([ecore, "report", out, "--plots", plots], capture_output=True,
                               text=True)
            check(p.returncode == 0, f"report --plots exited {p.returncode}: {p.stderr}")
            for name in FIGURES:
                path = os.path.join(plots, name + ".svg")
                if not os.path.exists(path):
                    check(False, f"{path} written")
                    continue
                n = check_figure(path, name, words)
                if name == "tradeoff_cka_original":
                    check(n == 4, f"{path}: a panel per supervision point ({n})")
                elif name == "tradeoff_test_retain_acc":
                    check(n == 1, f"{path}: one panel ({n})")
                else:
                    check(n == panels, f"{path}: {panels} panel(s), not {n}")
            check(not [f for f in os.listdir(plots) if f.endswith(".tmp")], "no .tmp left")
    print("ok" if failures == 0 else f"{failures} check(s) failed")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
