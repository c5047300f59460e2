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

// scanBomb is a progressive greyscale JPEG of w×h pixels made of n AC
// scans of a few bytes each: every scan is one end-of-band run over all the
// image's blocks (codes of 32,767 blocks), which the decoder still walks
// block by block. 2,000 scans of 4000×3000 are 56 KB, and seconds of a core.
func scanBomb(w, h, n int) []byte {
	var b bytes.Buffer
	segment := func(marker byte, body ...byte) {
		b.Write([]byte{0xff, marker, byte((len(body) + 2) >> 8), byte(len(body) + 2)})
		b.Write(body)
	}
	b.Write([]byte{0xff, 0xd8})
	segment(0xdb, append([]byte{0}, bytes.Repeat([]byte{1}, 64)...)...)          // DQT: table 0, all ones
	segment(0xc2, 8, byte(h>>8), byte(h), byte(w>>8), byte(w), 1, 1, 0x11, 0)    // SOF2: one component
	segment(0xc4, append([]byte{0x10, 1}, append(make([]byte, 15), 0xe0)...)...) // DHT: AC table 0, one 1-bit code: EOB run of 2^14+
	blocks := ((w + 7) / 8) * ((h + 7) / 8)
	// Each code is a 0 bit (the symbol) and 14 one bits (the run, 32767).
	var bits []byte
	for left := blocks; left > 0; left -= 32767 {
		bits = append(bits, 0, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1)
	}
	for len(bits)%8 != 0 {
		bits = append(bits, 1)
	}
	var scan []byte
	for i := 0; i < len(bits); i += 8 {
		var v byte
		for _, bit := range bits[i : i+8] {
			v = v<<1 | bit
		}
		scan = append(scan, v)
		if v == 0xff {
			scan = append(scan, 0) // stuffed
		}
	}
	for range n {
		segment(0xda, 1, 1, 0x00, 1, 63, 0) // SOS: component 1, AC table 0, coefficients 1-63
		b.Write(scan)
	}
	b.Write([]byte{0xff, 0xd9})
	return b.Bytes()
}

// TestScanBombsAreRefusedBeforeDecoding: a 4000×3000 JPEG of 2,000 tiny
// scans (the review's, 56 KB, 5 s to decode) is refused from a count of
// its scans, without decoding it; one of MaxScans is edited.
func TestScanBombsAreRefusedBeforeDecoding(t *testing.T) {
	data := scanBomb(4000, 3000, 2000)
	t.Logf("a %d KB JPEG of 2,000 scans", len(data)>>10)
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	_, _, err := edit(t, roomy(), data, Grayscale)
	runtime.ReadMemStats(&after)
	if !errors.Is(err, ErrTooComplex) {
		t.Fatalf("2,000 scans: %v, want ErrTooComplex", err)
	}
	if n := after.TotalAlloc - before.TotalAlloc; n > 1<<20 {
		t.Fatalf("refusing the scan bomb allocated %d MB: it was decoded", n>>20)
	}
	if _, err := Cost(scanBomb(4000, 3000, MaxScans+1)); !errors.Is(err, ErrTooComplex) {
		t.Fatalf("MaxScans+1 scans: %v, want ErrTooComplex", err)
	}
	if _, _, err := edit(t, roomy(), scanBomb(640, 480, MaxScans), Grayscale); err != nil {
		t.Fatalf("MaxScans scans: %v", err)
	}
}

func TestJPEGScans(t *testing.T) {
	sos := []byte{0xff, 0xda, 0, 8, 1, 1, 0, 1, 63, 0}
	jpeg := func(parts ...[]byte) []byte { return append([]byte{0xff, 0xd8}, bytes.Join(parts, nil)...) }
	tests := []struct {
		name string
		data []byte
		want int
	}{
		{"three scans", jpeg(sos, []byte{1, 2, 3}, sos, []byte{0xff, 0x00, 4}, sos, []byte{0xff, 0xd9}), 3},
		{"fill bytes before a marker", jpeg(sos, []byte{0xff, 0xff, 0xff}, sos), 2},
		{"restart markers in a scan's data", jpeg(sos, []byte{1, 0xff, 0xd0, 2, 0xff, 0xd1}, sos), 2},
		{"an SOS marker inside a comment is no scan", jpeg([]byte{0xff, 0xfe, 0, 4, 0xff, 0xda}, sos), 1},
		{"nothing after EOI counts", jpeg(sos, []byte{0xff, 0xd9}, sos, sos), 1},
		{"a length past the end", jpeg(sos[:4]), 1},
		{"a marker cut short", jpeg([]byte{0xff}), 0},
		{"a zero length", jpeg([]byte{0xff, 0xe1, 0, 0}, sos), 1},
	}
	for _, tc := range tests {
		if got := jpegScans(tc.data, MaxScans); got != tc.want {
			t.Errorf("%s: %d scans, want %d", tc.name, got, tc.want)
		}
	}
	// Counting stops past the limit.
	if got := jpegScans(scanBomb(64, 64, 500), 10); got != 11 {
		t.Errorf("500 scans with a limit of 10: counted %d, want 11", got)
	}
}
