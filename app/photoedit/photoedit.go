// Package photoedit is PhotoEditorApp's image editor: a few real operations
// written with nothing but the standard library's image packages.
//
// Decoding is where an image costs memory: a 300 KB PNG may claim to be
// 6000×6000 pixels of 16-bit colour, nearly 300 MB once decoded. So the
// editor reads the header first (image.DecodeConfig), refuses what is too
// large, estimates what the rest will cost, and decodes only within a memory
// budget shared by every edit in flight (see Editor).
//
// It is where an image costs time, too: a progressive JPEG is decoded scan
// by scan, each scan a pass over the whole image, and a 56 KB file can hold
// 2,000 of them (seconds of a core). So the editor counts a JPEG's scans
// before decoding it, and refuses more than MaxScans.
package photoedit

import (
	"bytes"
	"errors"
	"fmt"
	"image"
	"image/color"
	"image/draw"
	"image/gif"
	"image/jpeg"
	"image/png"
)

// Operations the editor offers, by name.
const (
	RotateLeft  = "rotate-left"
	RotateRight = "rotate-right"
	Grayscale   = "grayscale"
	CropSquare  = "crop-square"
	HalfSize    = "half-size"
)

// Operations lists them with the labels the edit page shows.
var Operations = []struct{ Name, Label string }{
	{RotateLeft, "Rotate left"},
	{RotateRight, "Rotate right"},
	{Grayscale, "Grayscale"},
	{CropSquare, "Crop to square"},
	{HalfSize, "Half size"},
}

// Limits of what the editor opens and writes. ImageHost accepts no larger
// photos (its own upload check), so every photo it keeps can be edited.
const (
	// MaxPixels is 12 megapixels: 4000×3000, a phone camera's photo.
	MaxPixels = 12_000_000
	// MaxBytes is the largest image file, read or written.
	MaxBytes = 8 << 20
	// MaxScans is the most scans a JPEG may have. Encoders write 1
	// (baseline) or about 10 (progressive: libjpeg's script has 10 for
	// colour, 6 for grey). Each scan is a pass over every 8×8 block of its
	// components: at 12 megapixels, 100 scans take about a second of a core.
	MaxScans = 100
)

// Errors of the editor; callers compare with errors.Is.
var (
	ErrUnknownOperation = errors.New("photoedit: unknown operation")
	ErrNotImage         = errors.New("photoedit: not a PNG, JPEG or GIF image")
	ErrTooLarge         = errors.New("photoedit: image too large to edit")
	ErrTooComplex       = errors.New("photoedit: image too costly to decode")
	ErrBusy             = errors.New("photoedit: the editor is busy")
)

// KnownOperation reports whether op is one of Operations.
func KnownOperation(op string) bool {
	for _, o := range Operations {
		if o.Name == op {
			return true
		}
	}
	return false
}

// Cost estimates, from the image's header alone, the bytes of memory an
// edit of data takes at its peak: the file itself, what the decoder
// allocates, the result, and the encoded result. It returns ErrNotImage for
// anything but a PNG, JPEG or GIF, ErrTooLarge for more than MaxPixels or
// MaxBytes, and ErrTooComplex for a JPEG of more than MaxScans scans.
func Cost(data []byte) (int64, error) {
	if len(data) > MaxBytes {
		return 0, fmt.Errorf("%w: %d bytes", ErrTooLarge, len(data))
	}
	cfg, format, err := image.DecodeConfig(bytes.NewReader(data))
	if err != nil {
		return 0, fmt.Errorf("%w: %v", ErrNotImage, err)
	}
	px := int64(cfg.Width) * int64(cfg.Height)
	if cfg.Width <= 0 || cfg.Height <= 0 || px > MaxPixels {
		return 0, fmt.Errorf("%w: %d×%d pixels", ErrTooLarge, cfg.Width, cfg.Height)
	}
	if format == "jpeg" {
		if n := jpegScans(data, MaxScans); n > MaxScans {
			return 0, fmt.Errorf("%w: a JPEG of more than %d scans", ErrTooComplex, MaxScans)
		}
	}
	decoded, peak := decodeCost(data, cfg, format)
	result := 4 * px // the edited image, 8-bit RGBA at most
	// The encoder writes into a growing buffer: at most twice what it
	// holds, and it never holds more than MaxBytes (encode checks).
	encoded := min(2*MaxBytes, 2*result+64<<10)
	return int64(len(data)) + max(peak, decoded+result) + encoded, nil
}

// decodeCost is what image.Decode allocates for an image: the decoded image
// (bytes per pixel by format and colour model), and the most it holds at
// once while decoding.
func decodeCost(data []byte, cfg image.Config, format string) (decoded, peak int64) {
	px := int64(cfg.Width) * int64(cfg.Height)
	switch format {
	case "png":
		perPixel := int64(4)
		switch cfg.ColorModel {
		case color.NRGBA64Model, color.RGBA64Model:
			perPixel = 8
		case color.Gray16Model:
			perPixel = 2
		case color.GrayModel:
			perPixel = 1
		}
		if _, ok := cfg.ColorModel.(color.Palette); ok {
			perPixel = 1
		}
		decoded = perPixel * px
		// An interlaced (Adam7) PNG is decoded pass by pass; the largest
		// pass, half the image, is held beside it.
		if len(data) > 28 && data[28] == 1 {
			return decoded, decoded + decoded/2
		}
		return decoded, decoded
	case "jpeg":
		// A sample is one byte of one component; with chroma subsampling
		// (4:2:0, say) there are fewer than three a pixel.
		progressive, samples := jpegFrame(data)
		decoded = px * samples / 4 // samples is in quarters
		if cfg.ColorModel == color.CMYKModel {
			// Decoded as YCbCr plus black, then converted to CMYK.
			decoded = px*samples/4 + 4*px
		}
		peak = decoded
		// A progressive JPEG keeps every DCT coefficient until its last
		// scan: 64 int32s per 8×8 block, 4 bytes a sample.
		if progressive {
			peak += 4 * px * samples / 4
		}
		return decoded, peak
	default: // gif: the first frame, one palette index a pixel
		return px, px
	}
}

// jpegFrame reads a JPEG's frame header (SOF): whether it is progressive
// (SOF2), and how many samples a pixel has, in quarters (12: three full
// components; 6: 4:2:0). It follows the segments up to the frame header;
// anything it cannot follow counts as the costliest case, four full
// components, progressive.
func jpegFrame(data []byte) (progressive bool, samples int64) {
	const worst = 16
	i := 2 // after SOI
	for i+4 <= len(data) {
		if data[i] != 0xff {
			return true, worst
		}
		marker := data[i+1]
		switch {
		case marker == 0xff: // fill byte
			i++
			continue
		case marker >= 0xd0 && marker <= 0xd8, marker == 0x01: // no length
			i += 2
			continue
		case marker == 0xc0 || marker == 0xc1 || marker == 0xc2:
			return marker == 0xc2, frameSamples(data[i+4:])
		}
		i += 2 + (int(data[i+2])<<8 | int(data[i+3]))
	}
	return true, worst
}

// jpegScans counts a JPEG's scans (SOS segments) the way image/jpeg finds
// them, stopping once it has counted more than limit: it walks the segments
// by their lengths, and between them skips what the decoder skips as it
// looks for the next marker (a scan's entropy-coded data, stuffed 0xFF00
// bytes, fill bytes, restart markers), up to the end of the image (EOI).
func jpegScans(data []byte, limit int) int {
	n := 0
	i := 2 // after SOI
	for i+1 < len(data) && n <= limit {
		if data[i] != 0xff { // entropy-coded data, or stray bytes
			i++
			continue
		}
		marker := data[i+1]
		i += 2
		if marker == 0x00 { // a stuffed 0xFF data byte
			continue
		}
		for marker == 0xff && i < len(data) { // fill bytes
			marker = data[i]
			i++
		}
		switch {
		case marker == 0xd9: // EOI: the decoder stops here
			return n
		case marker >= 0xd0 && marker <= 0xd7: // RSTn: no length
			continue
		case marker == 0xda: // SOS: a scan begins
			n++
		}
		if i+2 > len(data) {
			break
		}
		i += int(data[i])<<8 | int(data[i+1]) // the length counts its own two bytes
	}
	return n
}

// frameSamples is the quarters of a sample a pixel has, from a frame
// header's body: precision, height, width, the number of components, then
// each component's id, sampling factors and table.
func frameSamples(sof []byte) int64 {
	const worst = 16
	if len(sof) < 6 {
		return worst
	}
	n := int(sof[5])
	if n < 1 || n > 4 || len(sof) < 6+3*n {
		return worst
	}
	var sum, hmax, vmax int64 = 0, 1, 1
	for c := range n {
		h, v := int64(sof[7+3*c]>>4), int64(sof[7+3*c]&15)
		sum += h * v
		hmax, vmax = max(hmax, h), max(vmax, v)
	}
	// Rounded up, and never less than one sample a component could need.
	return min(int64(4*n), max(4, (4*sum+hmax*vmax-1)/(hmax*vmax)))
}

// apply decodes an image, applies op, and encodes the result in the same
// format (GIF and JPEG stay what they were; everything else becomes PNG).
// The caller has checked op and the image's cost.
func apply(data []byte, op string) ([]byte, string, error) {
	src, format, err := image.Decode(bytes.NewReader(data))
	if err != nil {
		return nil, "", fmt.Errorf("%w: decode: %v", ErrNotImage, err)
	}
	// The header gave a GIF's screen; a GIF decodes to its first frame,
	// which may be smaller, even empty (0×4): nothing to edit, and half
	// size would divide by its width.
	if src.Bounds().Empty() {
		return nil, "", fmt.Errorf("%w: its first frame is %v, no pixels", ErrNotImage, src.Bounds().Size())
	}
	var dst image.Image
	switch op {
	case RotateLeft:
		dst = rotate(src, false)
	case RotateRight:
		dst = rotate(src, true)
	case Grayscale:
		dst = grayscale(src)
	case CropSquare:
		dst = cropSquare(src)
	case HalfSize:
		dst = halfSize(src)
	default:
		return nil, "", ErrUnknownOperation
	}
	src = nil // the decoded image may go before the encoder's buffer grows
	out := &limitedBuffer{max: MaxBytes}
	switch format {
	case "jpeg":
		err = jpeg.Encode(out, dst, &jpeg.Options{Quality: 90})
	case "gif":
		err = gif.Encode(out, dst, nil)
	default:
		format = "png"
		// Speed over size: the result goes straight to ImageHost.
		err = (&png.Encoder{CompressionLevel: png.BestSpeed}).Encode(out, dst)
	}
	if errors.Is(err, errBufferFull) {
		return nil, "", fmt.Errorf("%w: the edited image is over %d bytes", ErrTooLarge, MaxBytes)
	} else if err != nil {
		return nil, "", fmt.Errorf("photoedit: encode: %w", err)
	}
	return out.Bytes(), "image/" + format, nil
}

var errBufferFull = errors.New("photoedit: buffer full")

// limitedBuffer is a bytes.Buffer that refuses to grow past max.
type limitedBuffer struct {
	bytes.Buffer
	max int
}

func (b *limitedBuffer) Write(p []byte) (int, error) {
	if b.Len()+len(p) > b.max {
		return 0, errBufferFull
	}
	return b.Buffer.Write(p)
}

// rows calls fn with each row of src, converted to 8-bit RGBA. One row is
// converted at a time, into one reused buffer, so the image is never held
// twice in memory; draw.Draw has fast paths for the formats decoders return.
func rows(src image.Image, fn func(y int, row []uint8)) {
	b := src.Bounds()
	row := image.NewRGBA(image.Rect(0, 0, b.Dx(), 1))
	for y := range b.Dy() {
		draw.Draw(row, row.Rect, src, image.Pt(b.Min.X, b.Min.Y+y), draw.Src)
		fn(y, row.Pix)
	}
}

// rotate turns the image a quarter turn.
func rotate(src image.Image, clockwise bool) *image.RGBA {
	w, h := src.Bounds().Dx(), src.Bounds().Dy()
	dst := image.NewRGBA(image.Rect(0, 0, h, w))
	rows(src, func(y int, row []uint8) {
		for x := range w {
			// Clockwise, source row y becomes column h-1-y, top to bottom;
			// anticlockwise, column y, bottom to top.
			dx, dy := h-1-y, x
			if !clockwise {
				dx, dy = y, w-1-x
			}
			copy(dst.Pix[dst.PixOffset(dx, dy):][:4], row[4*x:4*x+4])
		}
	})
	return dst
}

// grayscale converts with the luma weights of color.GrayModel.
func grayscale(src image.Image) *image.Gray {
	b := src.Bounds()
	dst := image.NewGray(image.Rect(0, 0, b.Dx(), b.Dy()))
	rows(src, func(y int, row []uint8) {
		out := dst.Pix[y*dst.Stride:]
		for x := range b.Dx() {
			r, g, bl := uint32(row[4*x]), uint32(row[4*x+1]), uint32(row[4*x+2])
			out[x] = uint8((19595*r + 38470*g + 7471*bl + 1<<15) >> 16)
		}
	})
	return dst
}

// cropSquare keeps the largest centred square.
func cropSquare(src image.Image) *image.RGBA {
	b := src.Bounds()
	side := min(b.Dx(), b.Dy())
	x0, y0 := b.Min.X+(b.Dx()-side)/2, b.Min.Y+(b.Dy()-side)/2
	dst := image.NewRGBA(image.Rect(0, 0, side, side))
	draw.Draw(dst, dst.Rect, src, image.Pt(x0, y0), draw.Src)
	return dst
}

// halfSize averages each 2×2 block into one pixel.
func halfSize(src image.Image) *image.RGBA {
	b := src.Bounds()
	w, h := max(1, b.Dx()/2), max(1, b.Dy()/2)
	dst := image.NewRGBA(image.Rect(0, 0, w, h))
	// Sums of each destination pixel's channels, and how many source
	// pixels went in, for the destination row being filled.
	sums := make([]uint32, 4*w)
	counts := make([]uint32, w)
	flush := func(dy int) {
		out := dst.Pix[dy*dst.Stride:]
		for x := range w {
			for c := range 4 {
				out[4*x+c] = uint8(sums[4*x+c] / counts[x])
				sums[4*x+c] = 0
			}
			counts[x] = 0
		}
	}
	rows(src, func(y int, row []uint8) {
		if y/2 >= h {
			return // an odd last row of a tall image: dropped, as before
		}
		for x := range min(2*w, b.Dx()) {
			for c := range 4 {
				sums[4*(x/2)+c] += uint32(row[4*x+c])
			}
			counts[x/2]++
		}
		if y%2 == 1 || y == b.Dy()-1 {
			flush(y / 2)
		}
	})
	return dst
}
