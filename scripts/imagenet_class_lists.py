#!/usr/bin/python3
"""Writes the class lists of the ImageNet subsets (pack_imagenet.py --classes takes them).

  /usr/bin/python3 scripts/imagenet_class_lists.py [--wordnet /usr/share/wordnet/data.noun]

From configs/imagenet1k_classes.txt (ImageNet-1K's 1000 wnids) and WordNet 3.0's noun database
(Debian's wordnet-base; ImageNet's wnids are its synset offsets), writes:

  configs/imagenet_random100.txt    100 classes drawn at random: numpy's default_rng(0).choice
                                    of 100 of the 1000 indices without replacement, sorted
  configs/imagenet_birdlike100.txt  the 59 ImageNet-1K classes under WordNet's bird
                                    (n01503061, through hypernym and instance-hypernym links),
                                    then its nearest relatives: the 36 under reptile
                                    (n01661091), then of those under amphibian (n01627424) the
                                    nearest to bird in WordNet (fewest links from the class up
                                    to a common hypernym and down to bird; ties by ImageNet
                                    index), up to 100

Each line is a wnid and, after '#', its WordNet lemmas and its links to bird; the lists are in
ImageNet index order, which becomes the packed data set's label order.
"""
import argparse
import os
import sys

import numpy as np

REPO = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
BIRD = "n01503061"
# bird-like-100 takes the classes under each in turn (bird's nearest relatives first)
GROUPS = [BIRD, "n01661091", "n01627424"]  # bird, reptile, amphibian


def read_wnids(path):
    with open(path) as f:
        return [w for w in (ln.split("#", 1)[0].strip() for ln in f) if w]


def read_wordnet(path):
    """{wnid: (lemmas, [hypernym wnids])} from WordNet's data.noun."""
    nouns = {}
    with open(path) as f:
        for line in f:
            if line.startswith("  "):  # the licence header
                continue
            p = line.split()
            n = int(p[3], 16)
            lemmas = [p[4 + 2 * i].replace("_", " ") for i in range(n)]
            at = 4 + 2 * n
            ptrs = [p[at + 1 + 4 * i: at + 5 + 4 * i] for i in range(int(p[at]))]
            nouns["n" + p[0]] = (lemmas, ["n" + q[1] for q in ptrs if q[0] in ("@", "@i")])
    return nouns


def up(nouns, wnid):
    """{ancestor: fewest hypernym links from wnid} (wnid itself at 0)."""
    dist, frontier = {wnid: 0}, [wnid]
    while frontier:
        nxt = []
        for w in frontier:
            for h in nouns[w][1]:
                if h not in dist:
                    dist[h] = dist[w] + 1
                    nxt.append(h)
        frontier = nxt
    return dist


def write(path, title, wnids, nouns, links):
    with open(path, "w") as f:
        f.write(f"# {title}\n# written by scripts/imagenet_class_lists.py; one wnid per line, "
                f"in ImageNet-1K index order\n")
        for w in wnids:
            f.write(f"{w}  # {', '.join(nouns[w][0][:2])} (WordNet links to bird: {links[w]})\n")
    print(f"{path}: {len(wnids)} classes")


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--wordnet", default="/usr/share/wordnet/data.noun",
                   help="WordNet 3.0's data.noun (Debian: wordnet-base)")
    p.add_argument("--out", default=os.path.join(REPO, "configs"), help="folder to write to")
    a = p.parse_args()
    if not os.path.exists(a.wordnet):
        print(f"imagenet_class_lists: {a.wordnet}: no such file (apt-get install wordnet-base)",
              file=sys.stderr)
        return 2
    all1k = read_wnids(os.path.join(REPO, "configs", "imagenet1k_classes.txt"))
    nouns = read_wordnet(a.wordnet)
    bird = up(nouns, BIRD)
    links = {}
    for w in all1k:
        mine = up(nouns, w)
        links[w] = min(mine[c] + bird[c] for c in mine if c in bird)

    pick = sorted(np.random.default_rng(0).choice(len(all1k), 100, replace=False))
    write(os.path.join(a.out, "imagenet_random100.txt"),
          "ImageNet-1K Random-100: 100 classes drawn with numpy default_rng(0).choice(1000, 100)",
          [all1k[i] for i in pick], nouns, links)

    chosen, counts = [], []
    for g in GROUPS:
        under = sorted((links[w], i) for i, w in enumerate(all1k) if g in up(nouns, w))
        take = [all1k[i] for _, i in under[:100 - len(chosen)]]
        chosen += take
        counts.append(f"{len(take)} of the {len(under)} under {nouns[g][0][0]} ({g})")
    if len(chosen) != 100:
        print(f"imagenet_class_lists: only {len(chosen)} bird-like classes", file=sys.stderr)
        return 1
    write(os.path.join(a.out, "imagenet_birdlike100.txt"),
          "ImageNet-1K bird-like-100: " + ", ".join(counts) + " (the nearest to bird)",
          [w for w in all1k if w in set(chosen)], nouns, links)
    return 0


if __name__ == "__main__":
    sys.exit(main())
