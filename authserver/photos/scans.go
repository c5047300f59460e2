package photos

// maxScans is the most scans an uploaded JPEG may have. A progressive JPEG
// is decoded scan by scan, each scan a pass over every 8×8 block of its
// components, so a 56 KB file of 2,000 tiny scans holds a decoder for
// seconds: a "scan bomb" for whoever consumes the photo (PhotoEditorApp's
// editor refuses the same). Encoders write 1 (baseline) or about 10
// (libjpeg's progressive script: 10 for colour, 6 for grey).
const maxScans = 100

// jpegScans counts a JPEG's scans (SOS segments) the way a decoder finds
// them, stopping once it has counted more than limit: it walks the segments
// by their lengths, and between them skips what image/jpeg skips as it looks
// for the next marker (a scan's entropy-coded data, stuffed 0xFF00 bytes,
// fill bytes, restart markers), up to the end of the image (EOI).
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
