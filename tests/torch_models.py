"""ecore's architectures (README "Models and data") in plain PyTorch, with torchvision's key names.

Written independently of the C code; used by make_fixtures.py (the reference fixtures) and
scripts/bench_pytorch.py (the speed comparison). Each model's forward(x, taps) appends the
supervision points' activations to taps.
"""
import torch.nn as nn
import torch.nn.functional as F
from torchvision.models.swin_transformer import SwinTransformer


class Stage(nn.Module):
    def __init__(self, cin, cout, pool):
        super().__init__()
        self.conv = nn.Conv2d(cin, cout, 3, padding=1, bias=False)
        self.bn = nn.BatchNorm2d(cout)
        self.pool = pool

    def forward(self, x):
        x = F.relu(self.bn(self.conv(x)))
        return F.max_pool2d(x, 2) if self.pool else x


class CNN4(nn.Module):
    points = ["layer1", "layer2", "layer3", "layer4"]

    def __init__(self, in_c, k, w=32):
        super().__init__()
        ws = [w, 2 * w, 4 * w, 8 * w]
        self.layer1 = Stage(in_c, ws[0], True)
        self.layer2 = Stage(ws[0], ws[1], True)
        self.layer3 = Stage(ws[1], ws[2], True)
        self.layer4 = Stage(ws[2], ws[3], False)
        self.fc = nn.Linear(ws[3], k)

    def forward(self, x, taps):
        for name in self.points:
            x = getattr(self, name)(x)
            taps.append(x)
        return self.fc(x.mean((2, 3)))


class MLP(nn.Module):
    points = ["layer1", "layer2"]

    def __init__(self, d, k):
        super().__init__()
        self.layer1 = nn.Linear(d, 512)
        self.layer2 = nn.Linear(512, 256)
        self.fc = nn.Linear(256, k)

    def forward(self, x, taps):
        x = F.relu(self.layer1(x.flatten(1)))
        taps.append(x)
        x = F.relu(self.layer2(x))
        taps.append(x)
        return self.fc(x)


def downsample(cin, cout, stride):
    return nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout))


class BasicBlock(nn.Module):
    expansion = 1

    def __init__(self, cin, planes, stride):
        super().__init__()
        self.conv1 = nn.Conv2d(cin, planes, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, planes, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.downsample = downsample(cin, planes, stride) if stride != 1 or cin != planes else None

    def forward(self, x):
        y = self.bn2(self.conv2(F.relu(self.bn1(self.conv1(x)))))
        return F.relu(y + (self.downsample(x) if self.downsample is not None else x))


class Bottleneck(nn.Module):
    expansion = 4

    def __init__(self, cin, planes, stride):
        super().__init__()
        self.conv1 = nn.Conv2d(cin, planes, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, planes, 3, stride, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.conv3 = nn.Conv2d(planes, planes * 4, 1, bias=False)
        self.bn3 = nn.BatchNorm2d(planes * 4)
        out = planes * 4
        self.downsample = downsample(cin, out, stride) if stride != 1 or cin != out else None

    def forward(self, x):
        y = F.relu(self.bn1(self.conv1(x)))
        y = F.relu(self.bn2(self.conv2(y)))
        y = self.bn3(self.conv3(y))
        return F.relu(y + (self.downsample(x) if self.downsample is not None else x))


class ResNet(nn.Module):
    points = ["layer1", "layer2", "layer3", "layer4"]

    def __init__(self, block, blocks, in_c, k, w=64, stem="cifar"):
        super().__init__()
        # cifar: 3x3 stride 1, no pool; imagenet: torchvision's 7x7 stride 2 and 3x3/2 max-pool
        self.imagenet = stem == "imagenet"
        if self.imagenet:
            self.conv1 = nn.Conv2d(in_c, w, 7, 2, 3, bias=False)
        else:
            self.conv1 = nn.Conv2d(in_c, w, 3, 1, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(w)
        cin = w
        for i, n in enumerate(blocks):
            layers = []
            for j in range(n):
                layers.append(block(cin, w << i, 2 if (j == 0 and i > 0) else 1))
                cin = (w << i) * block.expansion
            setattr(self, f"layer{i + 1}", nn.Sequential(*layers))
        self.fc = nn.Linear(cin, k)

    def forward(self, x, taps):
        x = F.relu(self.bn1(self.conv1(x)))
        if self.imagenet:
            x = F.max_pool2d(x, 3, 2, 1)
        for name in self.points:
            x = getattr(self, name)(x)
            taps.append(x)
        return self.fc(x.mean((2, 3)))


class Swin(SwinTransformer):
    """torchvision's swin_t itself (so its keys and computation are torchvision's), with the
    embedding width, patch and window as knobs and stochastic depth off; forward(x, taps) taps
    the four stages' outputs (NCHW). torchvision's patch embedding takes 3 channels."""
    points = ["stage1", "stage2", "stage3", "stage4"]

    def __init__(self, k, width=96, patch=4, window=7):
        super().__init__(patch_size=[patch, patch], embed_dim=width, depths=[2, 2, 6, 2],
                         num_heads=[3, 6, 12, 24], window_size=[window, window],
                         stochastic_depth_prob=0.0, num_classes=k)

    def forward(self, x, taps):
        for i, f in enumerate(self.features):
            x = f(x)
            if i % 2 == 1:
                taps.append(x.permute(0, 3, 1, 2))
        return self.head(self.flatten(self.avgpool(self.permute(self.norm(x)))))


def build(arch, in_c, k, width=0, patch=0, window=0, stem="cifar"):
    """The model called arch, as ecore builds it (width, patch, window 0: the default)."""
    if arch == "swin_t":
        return Swin(k, width or 96, patch or 4, window or 7)
    if arch == "cnn4":
        return CNN4(in_c, k, width or 32)
    if arch == "resnet18":
        return ResNet(BasicBlock, [2, 2, 2, 2], in_c, k, width or 64, stem)
    if arch == "resnet50":
        return ResNet(Bottleneck, [3, 4, 6, 3], in_c, k, width or 64, stem)
    raise ValueError(arch)
