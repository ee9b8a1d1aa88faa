"""Reading a user's video (frame folder or video file) and writing MP4 / GIF (dattt_nb.data.video_file)."""
import cv2
import numpy as np
import pytest

from dattt_nb.data.video_file import (is_video_file, read_video, resize_long_side, video_fps, write_frame_folder,
                                      write_gif, write_mp4)


def smooth_clip(t=5, h=48, w=64) -> np.ndarray:
    """A moving colour gradient (compresses well, so a decoded copy stays close to it)."""
    y, x = np.mgrid[0:h, 0:w].astype(np.float32)
    frames = [np.stack([(x + 4 * i) / w, y / h, 0.5 + 0.3 * np.sin((x + y) / 20 + i)], -1) for i in range(t)]
    return (np.clip(np.stack(frames), 0, 1) * 255).astype(np.uint8)


def test_folder_of_frames_is_read_in_natural_order(tmp_path):
    clip = smooth_clip(t=12)
    names = [f"frame{i}" for i in range(12)]  # frame10 must come after frame9, not after frame1
    write_frame_folder(clip, tmp_path, names, ext=".png")
    frames, got = read_video(tmp_path)
    assert got == names
    assert frames.dtype == np.uint8 and frames.shape == clip.shape
    np.testing.assert_array_equal(frames, clip)  # PNG is lossless


def test_max_frames_and_resize_long_side(tmp_path):
    write_frame_folder(smooth_clip(t=6, h=48, w=64), tmp_path)
    frames, names = read_video(tmp_path, max_frames=3, resize_long=32)
    assert frames.shape == (3, 24, 32, 3) and names == ["00000", "00001", "00002"]
    assert resize_long_side(np.zeros((10, 20, 3), np.uint8), 40).shape == (20, 40, 3)


def test_mp4_round_trip(tmp_path):
    clip = smooth_clip(t=6)
    path = write_mp4(clip, tmp_path / "clip.mp4", fps=12)
    assert path.is_file() and is_video_file(path)
    assert not list(tmp_path.glob(".clip*")), "no temporary file left behind"
    frames, names = read_video(path, backend="opencv")
    assert frames.shape == clip.shape and names == [f"{i:05d}" for i in range(6)]
    assert np.abs(frames.astype(int) - clip).mean() < 8  # lossy codec, but the same pictures
    assert video_fps(path) == pytest.approx(12, abs=0.1)
    assert read_video(path, max_frames=2, backend="opencv")[0].shape[0] == 2


def test_mp4_with_odd_sides_is_padded_to_even(tmp_path):
    frames, _ = read_video(write_mp4(smooth_clip(t=3, h=47, w=63), tmp_path / "odd.mp4"), backend="opencv")
    assert frames.shape == (3, 48, 64, 3)


def test_imageio_backend_matches_opencv(tmp_path):
    pytest.importorskip("imageio_ffmpeg")
    path = write_mp4(smooth_clip(t=4), tmp_path / "clip.mp4")
    a, _ = read_video(path, backend="imageio")
    b, _ = read_video(path, backend="opencv")
    assert a.shape == b.shape
    assert np.abs(a.astype(int) - b).mean() < 2


def test_gif_writing(tmp_path):
    from PIL import Image

    clip = smooth_clip(t=4, h=40, w=80)
    path = write_gif(clip, tmp_path / "clip.gif", fps=5)
    with Image.open(path) as img:
        assert img.n_frames == 4 and img.size == (80, 40)
        assert img.info.get("loop") == 0
    frames, _ = read_video(path)
    assert frames.shape == clip.shape
    assert np.abs(frames.astype(int) - clip).mean() < 12  # 256-colour palette
    small = write_gif(clip, tmp_path / "small.gif", max_side=40)
    with Image.open(small) as img:
        assert img.size == (40, 20)


def test_empty_folder(tmp_path):
    with pytest.raises(ValueError, match=f"{tmp_path}.*empty"):
        read_video(tmp_path)


def test_folder_without_images_names_what_it_found(tmp_path):
    (tmp_path / "notes.txt").write_text("not a frame")
    (tmp_path / "JPEGImages").mkdir()
    with pytest.raises(ValueError, match="holds no images.*notes.txt.*DAVIS-layout root"):
        read_video(tmp_path)


def test_mixed_sizes_name_the_odd_frame(tmp_path):
    write_frame_folder(smooth_clip(t=2), tmp_path, ["a0", "a1"], ext=".png")
    cv2.imwrite(str(tmp_path / "a2.png"), np.zeros((10, 10, 3), np.uint8))
    with pytest.raises(ValueError, match=r"a2\.png is 10x10, expected 64x48"):
        read_video(tmp_path)


@pytest.mark.parametrize("backend", ["auto", "opencv"])
def test_unreadable_video_file(tmp_path, backend):
    bad = tmp_path / "broken.mp4"
    bad.write_bytes(b"this is not a video")
    with pytest.raises(ValueError, match="broken.mp4 is unreadable"):
        read_video(bad, backend=backend)


def test_missing_and_unsupported_sources(tmp_path):
    with pytest.raises(FileNotFoundError, match="does not exist"):
        read_video(tmp_path / "nope.mp4")
    other = tmp_path / "table.csv"
    other.write_text("a,b")
    with pytest.raises(ValueError, match="neither a folder of frames nor a video file"):
        read_video(other)
    with pytest.raises(ValueError, match="unknown video backend"):
        read_video(write_mp4(smooth_clip(t=2), tmp_path / "x.mp4"), backend="vlc")


def test_writers_reject_bad_frames(tmp_path):
    with pytest.raises(ValueError, match=r"\(T, H, W, 3\) uint8"):
        write_mp4(np.zeros((2, 8, 8), np.uint8), tmp_path / "x.mp4")
    with pytest.raises(ValueError, match=r"\(T, H, W, 3\) uint8"):
        write_gif(np.zeros((0, 8, 8, 3), np.uint8), tmp_path / "x.gif")
    assert not (tmp_path / "x.mp4").exists() and not (tmp_path / "x.gif").exists()


def test_fps_of_a_frame_folder_is_the_default(tmp_path):
    assert video_fps(tmp_path, default=7.0) == 7.0


def test_gaps_in_numbered_frames_and_bad_options(tmp_path):
    from dattt_nb.utils import DatttWarning

    clip = smooth_clip(t=4)
    write_frame_folder(clip, tmp_path, ["00000", "00001", "00003", "00004"], ext=".png")
    with pytest.raises(ValueError, match=r"frame\(s\) 00002 missing .* --allow-gaps"):
        read_video(tmp_path)
    with pytest.warns(DatttWarning, match="00002 missing"):
        _, names = read_video(tmp_path, allow_gaps=True)
    assert names == ["00000", "00001", "00003", "00004"]
    with pytest.raises(ValueError, match=r"--resize-long \(resize_long\) must be .* >= 1 pixel, got -5"):
        read_video(tmp_path, resize_long=-5, allow_gaps=True)
    with pytest.raises(ValueError, match=r"--max-frames \(max_frames\) must be >= 0"):
        read_video(tmp_path, max_frames=-1, allow_gaps=True)
