package photoedit

import (
	"bytes"
	"context"
	"errors"
	"image"
	"image/color"
	"image/jpeg"
	"image/png"
	"runtime"
	"sync"
	"testing"
	"time"
)

// testImage is 4×2: red at the top-left corner, blue elsewhere.
func testImage(t *testing.T) []byte {
	img := image.NewRGBA(image.Rect(0, 0, 4, 2))
	for y := range 2 {
		for x := range 4 {
			img.Set(x, y, color.RGBA{0, 0, 255, 255})
		}
	}
	img.Set(0, 0, color.RGBA{255, 0, 0, 255})
	return encodePNG(t, img)
}

func encodePNG(t testing.TB, img image.Image) []byte {
	var buf bytes.Buffer
	if err := png.Encode(&buf, img); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// bomb is a PNG of w×h pixels of 16-bit RGBA, a few hundred KB at most:
// the file is small, the decoded image is 8 bytes a pixel.
func bomb(t testing.TB, w, h int) []byte {
	img := image.NewNRGBA64(image.Rect(0, 0, w, h))
	for i := range img.Pix {
		img.Pix[i] = 0x80
	}
	var buf bytes.Buffer
	enc := png.Encoder{CompressionLevel: png.BestSpeed}
	if err := enc.Encode(&buf, img); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// roomy is an editor that never makes a test wait.
func roomy() *Editor {
	return NewEditor(Limits{Slots: 4, Memory: 1 << 30, Wait: time.Minute})
}

// edit runs one edit on e.
func edit(t testing.TB, e *Editor, data []byte, op string) ([]byte, string, error) {
	t.Helper()
	ed, err := e.Begin(context.Background())
	if err != nil {
		return nil, "", err
	}
	defer ed.Done()
	return ed.Apply(context.Background(), data, op)
}

func TestApply(t *testing.T) {
	red := color.RGBA{255, 0, 0, 255}
	tests := []struct {
		op         string
		w, h       int
		redAt      image.Point // where the red corner ends up (-1: it is gone or mixed)
		grayPixels bool
	}{
		{RotateRight, 2, 4, image.Pt(1, 0), false},
		{RotateLeft, 2, 4, image.Pt(0, 3), false},
		{Grayscale, 4, 2, image.Pt(-1, -1), true},
		{CropSquare, 2, 2, image.Pt(-1, -1), false},
		{HalfSize, 2, 1, image.Pt(-1, -1), false},
	}
	for _, tc := range tests {
		t.Run(tc.op, func(t *testing.T) {
			out, ct, err := edit(t, roomy(), testImage(t), tc.op)
			if err != nil || ct != "image/png" {
				t.Fatalf("Apply: %v, %q", err, ct)
			}
			img, err := png.Decode(bytes.NewReader(out))
			if err != nil {
				t.Fatal(err)
			}
			if b := img.Bounds(); b.Dx() != tc.w || b.Dy() != tc.h {
				t.Fatalf("size %dx%d, want %dx%d", b.Dx(), b.Dy(), tc.w, tc.h)
			}
			if tc.redAt.X >= 0 {
				if got := color.RGBAModel.Convert(img.At(tc.redAt.X, tc.redAt.Y)); got != red {
					t.Fatalf("pixel at %v = %v, want red", tc.redAt, got)
				}
			}
			if tc.grayPixels {
				r, g, b, _ := img.At(0, 0).RGBA()
				if r != g || g != b {
					t.Fatalf("grayscale pixel %d %d %d", r, g, b)
				}
			}
		})
	}
	// Half size averages: a 2×2 block of red and blue is purple.
	out, _, _ := edit(t, roomy(), testImage(t), HalfSize)
	img, _ := png.Decode(bytes.NewReader(out))
	if got := color.RGBAModel.Convert(img.At(0, 0)).(color.RGBA); got.R != 63 || got.B != 191 {
		t.Fatalf("half size of 1 red and 3 blue = %v, want R 63, B 191", got)
	}
	if _, _, err := edit(t, roomy(), testImage(t), "explode"); !errors.Is(err, ErrUnknownOperation) {
		t.Fatalf("unknown op: %v", err)
	}
	if _, _, err := edit(t, roomy(), []byte("not an image"), Grayscale); !errors.Is(err, ErrNotImage) {
		t.Fatalf("garbage: %v", err)
	}
}

// TestEditsAreCompact: a 16-bit image comes out 8-bit, and JPEG stays JPEG.
func TestEditsAreCompact(t *testing.T) {
	out, ct, err := edit(t, roomy(), bomb(t, 30, 20), RotateLeft)
	if err != nil || ct != "image/png" {
		t.Fatalf("16-bit PNG: %v %q", err, ct)
	}
	img, _ := png.Decode(bytes.NewReader(out))
	if m := img.ColorModel(); m == color.NRGBA64Model || m == color.RGBA64Model {
		t.Fatal("the edited image is still 16 bits a channel")
	}
	var buf bytes.Buffer
	jpeg.Encode(&buf, image.NewYCbCr(image.Rect(0, 0, 16, 8), image.YCbCrSubsampleRatio420), nil)
	if _, ct, err := edit(t, roomy(), buf.Bytes(), Grayscale); err != nil || ct != "image/jpeg" {
		t.Fatalf("JPEG: %v %q", err, ct)
	}
}

// TestBombsAreRefusedBeforeDecoding: the image the review used, 6000×6000
// at 16-bit RGBA in a small file, is refused from its header: the editor
// allocates next to nothing for it.
func TestBombsAreRefusedBeforeDecoding(t *testing.T) {
	data := bomb(t, 6000, 6000)
	t.Logf("a %d KB file of 6000×6000 16-bit pixels", len(data)>>10)
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	_, _, err := edit(t, roomy(), data, RotateRight)
	runtime.ReadMemStats(&after)
	if !errors.Is(err, ErrTooLarge) {
		t.Fatalf("6000×6000: %v, want ErrTooLarge", err)
	}
	if n := after.TotalAlloc - before.TotalAlloc; n > 1<<20 {
		t.Fatalf("refusing the bomb allocated %d MB: it was decoded", n>>20)
	}
	// Within the pixel cap but over the memory budget: too large too.
	small := NewEditor(Limits{Slots: 1, Memory: 32 << 20, Wait: time.Second})
	if _, _, err := edit(t, small, bomb(t, 2000, 2000), RotateRight); !errors.Is(err, ErrTooLarge) {
		t.Fatalf("2000×2000 at 16 bits with a 32 MB budget: %v, want ErrTooLarge", err)
	}
	if _, _, err := edit(t, roomy(), bytes.Repeat([]byte{1}, MaxBytes+1), RotateRight); !errors.Is(err, ErrTooLarge) {
		t.Fatalf("a file over MaxBytes: %v, want ErrTooLarge", err)
	}
}

func TestCost(t *testing.T) {
	// Frame headers: SOF marker, length, precision, height, width, and
	// each component's id, sampling factors (h<<4 | v) and table.
	sof := func(marker byte, sampling ...byte) []byte {
		b := []byte{0xff, 0xd8, 0xff, 0xe0, 0, 4, 'J', 'F', 0xff, marker, 0, byte(8 + 3*len(sampling)), 8, 0, 16, 0, 16, byte(len(sampling))}
		for i, s := range sampling {
			b = append(b, byte(i+1), s, 0)
		}
		return b
	}
	var baseline bytes.Buffer
	jpeg.Encode(&baseline, image.NewRGBA(image.Rect(0, 0, 16, 16)), nil) // Go writes 4:2:0
	tests := []struct {
		name        string
		data        []byte
		progressive bool
		samples     int64 // quarters of a sample a pixel
	}{
		{"baseline 4:2:0, from image/jpeg", baseline.Bytes(), false, 6},
		{"progressive 4:2:0", sof(0xc2, 0x22, 0x11, 0x11), true, 6},
		{"progressive 4:4:4", sof(0xc2, 0x11, 0x11, 0x11), true, 12},
		{"progressive grey", sof(0xc2, 0x11), true, 4},
		{"baseline CMYK", sof(0xc0, 0x11, 0x11, 0x11, 0x11), false, 16},
		{"truncated", []byte{0xff, 0xd8, 0xff}, true, 16},
		{"garbage after SOI", []byte{0xff, 0xd8, 0x00, 0x00, 0x00}, true, 16},
		{"frame header cut short", sof(0xc2, 0x22, 0x11, 0x11)[:20], true, 16},
	}
	for _, tc := range tests {
		if progressive, samples := jpegFrame(tc.data); progressive != tc.progressive || samples != tc.samples {
			t.Errorf("jpegFrame(%s) = %v, %d; want %v, %d", tc.name, progressive, samples, tc.progressive, tc.samples)
		}
	}
	// The 16-bit image costs twice what the 8-bit one does to decode.
	c8, err8 := Cost(encodePNG(t, image.NewNRGBA(image.Rect(0, 0, 1000, 1000))))
	c16, err16 := Cost(bomb(t, 1000, 1000))
	if err8 != nil || err16 != nil || c16-c8 < 4_000_000 {
		t.Fatalf("Cost: 8-bit %d (%v), 16-bit %d (%v)", c8, err8, c16, err16)
	}
}

// TestEditorCaps: a concurrent burst against full slots, and against full
// memory, gets ErrBusy within the wait, not a queue that grows.
func TestEditorCaps(t *testing.T) {
	e := NewEditor(Limits{Slots: 2, Memory: 64 << 20, Wait: 200 * time.Millisecond})
	ctx := context.Background()
	var held []*Edit
	for range 2 {
		ed, err := e.Begin(ctx)
		if err != nil {
			t.Fatal(err)
		}
		held = append(held, ed)
	}
	burst := func(try func() error) []error {
		var wg sync.WaitGroup
		start := make(chan struct{})
		errs := make([]error, 10)
		for i := range errs {
			wg.Go(func() {
				<-start
				errs[i] = try()
			})
		}
		close(start)
		wg.Wait()
		return errs
	}
	begun := time.Now()
	for i, err := range burst(func() error {
		ed, err := e.Begin(ctx)
		if err == nil {
			ed.Done()
		}
		return err
	}) {
		if !errors.Is(err, ErrBusy) {
			t.Fatalf("burst %d with every slot taken: %v, want ErrBusy", i, err)
		}
	}
	if d := time.Since(begun); d > 10*time.Second {
		t.Fatalf("the burst waited %v", d)
	}
	held[1].Done()

	// One slot free, but the memory is taken: busy again.
	if err := e.memory.Acquire(ctx, 64<<20); err != nil {
		t.Fatal(err)
	}
	for i, err := range burst(func() error {
		ed, err := e.Begin(ctx)
		if err != nil {
			return err
		}
		defer ed.Done()
		_, _, err = ed.Apply(ctx, testImage(t), RotateLeft)
		return err
	}) {
		if !errors.Is(err, ErrBusy) {
			t.Fatalf("burst %d with the memory taken: %v, want ErrBusy", i, err)
		}
	}
	e.memory.Release(64 << 20)
	held[0].Done()
	if _, _, err := edit(t, e, testImage(t), RotateLeft); err != nil {
		t.Fatalf("after the slots and the memory came back: %v", err)
	}
}

// emptyFrameGIF is a valid 4×4 GIF whose first frame, the one image.Decode
// returns, is 0 pixels wide: its screen has pixels, its image has none.
func emptyFrameGIF() []byte {
	var b bytes.Buffer
	b.WriteString("GIF89a")
	b.Write([]byte{4, 0, 4, 0, 0x80, 0, 0})          // screen 4×4, a global palette of 2 colours
	b.Write([]byte{0, 0, 0, 255, 255, 255})          // the palette
	b.Write([]byte{0x2c, 0, 0, 0, 0, 0, 0, 4, 0, 0}) // image descriptor: 0×4 at (0, 0)
	b.Write([]byte{2, 1, 0x2c, 0})                   // LZW minimum code size 2, one sub-block, end
	b.WriteByte(0x3b)
	return b.Bytes()
}

// TestEmptyFrameIsNotAnImage: a GIF whose first frame has no pixels passes
// the header check (its screen is 4×4), and every operation refuses it as
// not an image instead of dividing by its width.
func TestEmptyFrameIsNotAnImage(t *testing.T) {
	data := emptyFrameGIF()
	if _, err := Cost(data); err != nil {
		t.Fatalf("Cost: %v; the header is a sane 4×4 GIF", err)
	}
	for _, op := range Operations {
		t.Run(op.Name, func(t *testing.T) {
			defer func() {
				if p := recover(); p != nil {
					t.Fatalf("panic: %v", p)
				}
			}()
			if _, _, err := edit(t, roomy(), data, op.Name); !errors.Is(err, ErrNotImage) {
				t.Fatalf("%v, want ErrNotImage", err)
			}
		})
	}
}
