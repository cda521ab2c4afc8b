package objectstore

import (
	"encoding/base64"
	"encoding/binary"
	"hash"
	"hash/crc32"
	"io"
	"strconv"
	"sync/atomic"
)

// trailerCRC32C is the trailer that carries a streamed body's checksum.
const trailerCRC32C = "x-amz-checksum-crc32c"

// chunkLength is the size of the aws-chunked chunks we send, as the SDKs do.
const chunkLength = 64 << 10

// checksummedBody is a body of length bytes from r, aws-chunked (STREAMING-UNSIGNED-PAYLOAD-
// TRAILER, what the SDKs send over HTTPS) with the CRC32C of the bytes sent as a trailer.
//
// Why: a body streamed from the source to the target can be checked by the target without
// being held here first. A checksum in a header must be known before the body is sent, so it
// needs the whole body in memory (a part buffered this way cost a large copy a third of its
// CPU in zeroing fresh buffers, and 16 MiB per part in flight); a trailer is computed as the
// bytes pass, and the store refuses the body if it differs.
//
// A source that ends early leaves the body short of its Content-Length, so the request fails:
// nothing short is ever stored.
type checksummedBody struct {
	r       io.Reader
	length  int64
	left    int64 // bytes of r not yet sent
	inChunk int64 // bytes of r still to send in the current chunk
	pending []byte
	crc     hash.Hash32
	done    bool // the last chunk and the trailer are queued
	// sum is the trailer's CRC32C once queued. It is read by the sender's goroutine, which may
	// differ from the one that reads the body: net/http writes a request body in a goroutine
	// of its own, which may still run after the response came back.
	sum atomic.Pointer[string]
}

func newChecksummedBody(r io.Reader, length int64) *checksummedBody {
	return &checksummedBody{r: r, length: length, left: length, crc: crc32.New(castagnoli)}
}

// encodedLength is the Content-Length of an aws-chunked body of length bytes with the CRC32C
// trailer: each chunk is "<hex size>\r\n<data>\r\n", then "0\r\n", the trailer line, "\r\n".
func encodedLength(length int64) int64 {
	chunk := func(n int64) int64 { return int64(len(strconv.FormatInt(n, 16))) + 2 + n + 2 }
	n := (length / chunkLength) * chunk(chunkLength)
	if rest := length % chunkLength; rest > 0 {
		n += chunk(rest)
	}
	return n + int64(len("0\r\n")+len(trailerCRC32C+":")+len(crc32cString(0))+len("\r\n\r\n"))
}

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// crc32cString is a CRC32C as S3 takes it: base64 of the big-endian value.
func crc32cString(sum uint32) string {
	return base64.StdEncoding.EncodeToString(binary.BigEndian.AppendUint32(nil, sum))
}

// Sum returns the CRC32C the trailer carries, as S3 takes it, and false if the body was not
// read to its end. A store that accepted the body has read the trailer, so it is set then.
func (b *checksummedBody) Sum() (string, bool) {
	if p := b.sum.Load(); p != nil {
		return *p, true
	}
	return "", false
}

func (b *checksummedBody) Read(p []byte) (int, error) {
	for len(b.pending) == 0 {
		switch {
		case b.inChunk > 0:
			n, err := b.r.Read(p[:min(int64(len(p)), b.inChunk)])
			b.crc.Write(p[:n])
			b.inChunk -= int64(n)
			b.left -= int64(n)
			if b.inChunk == 0 {
				b.pending = []byte("\r\n")
			}
			if err == io.EOF && b.inChunk > 0 {
				err = io.ErrUnexpectedEOF
			} else if err == io.EOF {
				err = nil
			}
			return n, err
		case b.left > 0:
			b.inChunk = min(b.left, chunkLength)
			b.pending = []byte(strconv.FormatInt(b.inChunk, 16) + "\r\n")
		case !b.done:
			b.done = true
			sum := crc32cString(b.crc.Sum32())
			b.sum.Store(&sum)
			b.pending = []byte("0\r\n" + trailerCRC32C + ":" + sum + "\r\n\r\n")
		default:
			return 0, io.EOF
		}
	}
	n := copy(p, b.pending)
	b.pending = b.pending[n:]
	return n, nil
}
