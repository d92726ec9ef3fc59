"""Checks for sheets/05_cnn.md: sizes are compared with what a direct numpy
implementation (sliding windows, im2col, a loop) produces."""

import numpy as np


def _conv2d_output_height(height, padding, kernel, stride):
    """Count the window positions along one axis directly."""
    padded = height + 2 * padding
    return len(range(0, padded - kernel + 1, stride))


def conv_output_size(card):
    assert card.eq(H_in=5, P=0, F=3, S=1) == 3, "5x5 input, 3x3 kernel, no padding: 3"
    for height in range(3, 12):
        for kernel in (1, 2, 3, 5):
            for padding in (0, 1, 2):
                for stride in (1, 2, 3):
                    if kernel > height + 2 * padding:
                        continue
                    expected = _conv2d_output_height(height, padding, kernel, stride)
                    got = card.eq(H_in=height, P=padding, F=kernel, S=stride)
                    assert got == expected, (height, padding, kernel, stride, got, expected)


def conv1d(card):
    rng = np.random.default_rng(5)  # the same draws whatever ran before
    x = rng.normal(size=9)
    w = rng.normal(size=3)
    expected = np.correlate(x, w, mode="valid") + 0.5
    # The output index i is given one value at a time, counted from 1 as in the formula.
    got = [card.eq(i=i, x=x, w=w, b=0.5, F=3) for i in range(1, len(expected) + 1)]
    np.testing.assert_allclose(got, expected)


def conv_parameter_count(card):
    for f_h, f_w, c_in, c_out in ((3, 3, 1, 8), (5, 3, 16, 32), (1, 1, 64, 10)):
        weights = np.zeros((c_out, c_in, f_h, f_w))
        biases = np.zeros(c_out)
        assert card.eq(F_h=f_h, F_w=f_w, C_in=c_in, C_out=c_out) == weights.size + biases.size


def pooling_output_size(card):
    rng = np.random.default_rng(5)  # the same draws whatever ran before
    image = rng.normal(size=(8, 8))
    pooled = image.reshape(4, 2, 4, 2).max(axis=(1, 3))  # 2x2 max pooling, stride 2
    assert card.eq(H_in=8, F=2, S=2) == pooled.shape[0]
    windows = np.lib.stride_tricks.sliding_window_view(image, (3, 3))[::1, ::1]
    assert card.eq(H_in=8, F=3, S=1) == windows.shape[0]


def transposed_conv_output_size(card):
    # A transposed convolution undoes the size change of the convolution it transposes
    # (when the stride divides evenly).
    for h_out in range(2, 8):
        for kernel, stride, padding in ((3, 1, 1), (4, 2, 1), (2, 2, 0), (5, 1, 0)):
            h_in = stride * (h_out - 1) + kernel - 2 * padding
            conv = (h_in + 2 * padding - kernel) // stride + 1
            assert conv == h_out
            assert card.eq(S=stride, H_in=h_out, F=kernel, P=padding) == h_in


def dilated_kernel_size(card):
    for kernel in (2, 3, 5):
        for dilation in (1, 2, 4):
            taps = np.zeros(100)
            taps[np.arange(kernel) * dilation] = 1  # where the dilated kernel reads
            span = np.flatnonzero(taps)[-1] + 1
            assert card.eq(F=kernel, D=dilation) == span, (kernel, dilation)


def receptive_field(card):
    for kernel in (2, 3, 5):
        for layers in (1, 2, 3, 4):
            impulse = np.zeros(64)
            impulse[32] = 1.0
            signal = impulse
            for _ in range(layers):
                signal = np.convolve(signal, np.ones(kernel), mode="same")
            assert card.eq(n=layers, F=kernel) == np.count_nonzero(signal), (kernel, layers)


def _im2col(images, kernel_h, kernel_w, stride, padding):
    padded = np.pad(images, ((0, 0), (0, 0), (padding, padding), (padding, padding)))
    windows = np.lib.stride_tricks.sliding_window_view(padded, (kernel_h, kernel_w),
                                                       axis=(2, 3))
    windows = windows[:, :, ::stride, ::stride]
    n, _, h_out, w_out = windows.shape[:4]
    return windows.transpose(0, 2, 3, 1, 4, 5).reshape(n * h_out * w_out, -1), h_out, w_out


def im2col_shape(card):
    rng = np.random.default_rng(5)  # the same draws whatever ran before
    rows_rule, cols_rule = card.eqs[0], card.eqs[1]
    images = rng.normal(size=(2, 3, 7, 6))
    columns, h_out, w_out = _im2col(images, 3, 2, 1, 1)
    assert rows_rule(N=2, H_out=h_out, W_out=w_out) == columns.shape[0]
    assert cols_rule(C=3, F_h=3, F_w=2) == columns.shape[1]


def batch_norm(card):
    rng = np.random.default_rng(5)  # the same draws whatever ran before
    normalise, scale_shift = card.eqs[0], card.eqs[1]
    x = rng.normal(4.0, 3.0, size=64)
    x_hat = normalise(x=x, mu_B=x.mean(), sigma_B=x.std(), epsilon=1e-8)
    np.testing.assert_allclose(x_hat.mean(), 0.0, atol=1e-12)
    np.testing.assert_allclose(x_hat.var(), 1.0, rtol=1e-6)
    y = scale_shift(gamma=x.std(), x_hat=x_hat, beta=x.mean())
    np.testing.assert_allclose(y, x, rtol=1e-6, atol=1e-9)  # elements near 0: absolute


def iou(card):
    # Two axis-aligned boxes on a pixel grid: count the pixels.
    grid = np.zeros((20, 20), dtype=bool)
    first, second = grid.copy(), grid.copy()
    first[2:10, 3:12] = True
    second[5:15, 8:14] = True
    inter = np.count_nonzero(first & second)
    union = np.count_nonzero(first | second)
    got = card.eq(S_AB=inter, S_A=np.count_nonzero(first), S_B=np.count_nonzero(second))
    np.testing.assert_allclose(got, inter / union)
    np.testing.assert_allclose(card.eq(S_AB=5, S_A=5, S_B=5), 1.0)


def f_score(card):
    for tp, fp, fn in ((10, 5, 3), (1, 0, 9), (7, 7, 0)):
        precision, recall = tp / (tp + fp), tp / (tp + fn)
        np.testing.assert_allclose(card.eq(TP=tp, FP=fp, FN=fn),
                                   2 * precision * recall / (precision + recall))
