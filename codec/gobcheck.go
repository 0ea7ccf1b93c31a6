package codec

import (
	"errors"
	"fmt"
)

// encoding/gob reads the element count of a map and allocates a map of that
// size before it reads a single element, so a forged count in a few bytes of
// input can demand gigabytes. checkGob walks gob's wire format (documented in
// encoding/gob's "Encoding Details") ahead of the real decoder and rejects
// such counts: every map element takes some bytes on the wire, so a count
// needing more than the bytes left in its message cannot be honest. That
// bounds the map's memory by what decoding its elements would cost anyway.
// It also bounds the nesting depth, which gob's decoder recurses on.
//
// checkGob rejects only what gob's encoder never produces. Where the input
// is malformed in a way gob's decoder itself refuses before allocating (an
// unknown type id, a truncated message, a field number out of range), it stops
// checking and leaves the error to gob.

// maxGobDepth bounds how deeply values may nest; it is the limit gob itself
// applies to the values it skips.
const maxGobDepth = 10000

// errGobUnchecked stops checking without a verdict.
var errGobUnchecked = errors.New("gob input not checked")

// gobKind is the shape of a wire type.
type gobKind uint8

const (
	gobScalar    gobKind = iota + 1 // bool, int, uint, float: one unsigned integer
	gobComplex                      // two unsigned integers
	gobBytes                        // []byte, string, and GobEncoder types: count and bytes
	gobInterface                    // type name, type id, count, value
	gobArray
	gobSlice
	gobMap
	gobStruct
)

type gobType struct {
	kind   gobKind
	elem   int   // arrays, slices and maps
	key    int   // maps
	len    int64 // arrays
	fields []int // structs: type id of each field
}

// Type ids gob predefines; user types start at 65.
var gobBuiltinTypes = map[int]gobType{
	1: {kind: gobScalar},    // bool
	2: {kind: gobScalar},    // int
	3: {kind: gobScalar},    // uint
	4: {kind: gobScalar},    // float
	5: {kind: gobBytes},     // []byte
	6: {kind: gobBytes},     // string
	7: {kind: gobComplex},   // complex
	8: {kind: gobInterface}, // interface
}

type gobChecker struct {
	types map[int]gobType
}

// checkGob returns an error wrapping ErrMalformed when data holds a map count
// or nesting that encoding/gob would act on without the input to back it.
func checkGob(data []byte) error {
	err := walkGob(data)
	if errors.Is(err, errGobUnchecked) {
		return nil
	}
	return err
}

// walkGob is checkGob, except that it returns errGobUnchecked when it stopped
// checking before the end of the first value.
func walkGob(data []byte) error {
	c := gobChecker{types: map[int]gobType{}}
	for len(data) > 0 {
		size, ok := gobUint(&data)
		if !ok || size > uint64(len(data)) {
			return errGobUnchecked
		}
		msg := data[:size]
		data = data[size:]
		id, ok := gobInt(&msg)
		if !ok {
			return errGobUnchecked
		}
		if id < 0 {
			if err := c.defineType(-id, &msg); err != nil {
				return err
			}
			if len(msg) != 0 {
				return errGobUnchecked
			}
			continue
		}
		// gob decodes one value per Decode call; what follows is not its concern.
		if err := c.topLevelValue(id, &msg, 0); err != nil {
			return err
		}
		if len(msg) != 0 {
			return errGobUnchecked
		}
		return nil
	}
	return errGobUnchecked
}

// topLevelValue walks a value sent on its own: a struct as it is, anything
// else as the only field of a struct, announced by a zero delta.
func (c *gobChecker) topLevelValue(id int64, b *[]byte, depth int) error {
	t, ok := c.lookup(id)
	if !ok {
		return errGobUnchecked
	}
	if t.kind != gobStruct {
		if delta, ok := gobUint(b); !ok || delta != 0 {
			return errGobUnchecked
		}
	}
	return c.value(t, b, depth)
}

func (c *gobChecker) lookup(id int64) (gobType, bool) {
	if t, ok := gobBuiltinTypes[int(id)]; ok {
		return t, true
	}
	t, ok := c.types[int(id)]
	return t, ok
}

func (c *gobChecker) value(t gobType, b *[]byte, depth int) error {
	if depth > maxGobDepth {
		return fmt.Errorf("%w: gob: values nested more than %d deep", ErrMalformed, maxGobDepth)
	}
	switch t.kind {
	case gobScalar:
		return gobSkipUints(b, 1)
	case gobComplex:
		return gobSkipUints(b, 2)
	case gobBytes:
		return gobSkipBytes(b)
	case gobInterface:
		return c.interfaceValue(b, depth)
	case gobStruct:
		return c.structValue(t, b, depth)
	}
	n, ok := gobUint(b)
	if !ok {
		return errGobUnchecked
	}
	elem, ok := c.lookup(int64(t.elem))
	if !ok {
		return errGobUnchecked
	}
	var key gobType
	if t.kind == gobMap {
		if key, ok = c.lookup(int64(t.key)); !ok {
			return errGobUnchecked
		}
		perElement := c.minSize(key, 0) + c.minSize(elem, 0)
		if n > uint64(len(*b))/uint64(perElement) {
			return fmt.Errorf("%w: gob: map of %d elements in %d bytes", ErrMalformed, n, len(*b))
		}
	}
	// A slice count beyond the input is left to gob, which sizes slices
	// safely; its elements are still walked, each taking at least one byte,
	// until the input runs out.
	for range n {
		if t.kind == gobMap {
			if err := c.value(key, b, depth+1); err != nil {
				return err
			}
		}
		if err := c.value(elem, b, depth+1); err != nil {
			return err
		}
	}
	return nil
}

// minSize is the fewest bytes a value of type t takes on the wire, capped so
// that it cannot overflow. Every value takes at least one byte; an array
// holds all its elements.
func (c *gobChecker) minSize(t gobType, depth int) int {
	const limit = 1 << 40
	switch {
	case t.kind == gobComplex:
		return 2
	case t.kind != gobArray || depth > 100:
		return 1
	}
	elem, ok := c.lookup(int64(t.elem))
	if !ok {
		return 1
	}
	per := int64(c.minSize(elem, depth+1))
	if t.len > (limit-1)/per {
		return limit
	}
	return int(1 + t.len*per)
}

func (c *gobChecker) structValue(t gobType, b *[]byte, depth int) error {
	field := -1
	for {
		delta, ok := gobUint(b)
		if !ok || delta > uint64(len(t.fields)) {
			return errGobUnchecked
		}
		if delta == 0 {
			return nil
		}
		field += int(delta)
		if field >= len(t.fields) {
			return errGobUnchecked
		}
		ft, ok := c.lookup(int64(t.fields[field]))
		if !ok {
			return errGobUnchecked
		}
		if err := c.value(ft, b, depth+1); err != nil {
			return err
		}
	}
}

// interfaceValue walks a concrete type's name, the definitions of the types
// not sent before, the concrete type's id and its value. The encoder writes
// byte counts between these parts (after each definition and before the
// value) where its buffers happen to be flushed; like gob's decoder, the walk
// skips them and reads on.
func (c *gobChecker) interfaceValue(b *[]byte, depth int) error {
	name, ok := gobUint(b)
	if !ok || name > uint64(len(*b)) {
		return errGobUnchecked
	}
	*b = (*b)[name:]
	if name == 0 {
		return nil // nil interface
	}
	for {
		id, ok := gobInt(b)
		if !ok {
			return errGobUnchecked
		}
		if id >= 0 {
			if err := gobSkipUints(b, 1); err != nil {
				return err
			}
			return c.topLevelValue(id, b, depth+1)
		}
		if err := c.defineType(-id, b); err != nil {
			return err
		}
		if err := gobSkipUints(b, 1); err != nil {
			return err
		}
	}
}

// defineType parses a wireType, itself sent as a gob struct:
//
//	wireType{ArrayT, SliceT, StructT, MapT, GobEncoderT, BinaryMarshalerT, TextMarshalerT}
//
// where each field is a pointer to a struct whose field 0 is CommonType{Name, Id}.
func (c *gobChecker) defineType(id int64, b *[]byte) error {
	var t gobType
	err := gobFields(b, func(field int) error {
		if t.kind != 0 {
			// gob's encoder sets exactly one field; its decoder would read
			// such a type as the first one set, which this walk does not model.
			return fmt.Errorf("%w: gob: type %d defined with several shapes", ErrMalformed, id)
		}
		switch field {
		case 0:
			t.kind = gobArray
			return gobFields(b, func(f int) error {
				switch f {
				case 0:
					return gobSkipCommonType(b)
				case 1:
					return gobTypeID(b, &t.elem)
				case 2:
					n, ok := gobInt(b)
					if !ok || n < 0 {
						return errGobUnchecked
					}
					t.len = n
					return nil
				}
				return errGobUnchecked
			})
		case 1:
			t.kind = gobSlice
			return gobFields(b, func(f int) error {
				switch f {
				case 0:
					return gobSkipCommonType(b)
				case 1:
					return gobTypeID(b, &t.elem)
				}
				return errGobUnchecked
			})
		case 2:
			t.kind = gobStruct
			return gobFields(b, func(f int) error {
				switch f {
				case 0:
					return gobSkipCommonType(b)
				case 1:
					return c.fieldTypes(b, &t.fields)
				}
				return errGobUnchecked
			})
		case 3:
			t.kind = gobMap
			return gobFields(b, func(f int) error {
				switch f {
				case 0:
					return gobSkipCommonType(b)
				case 1:
					return gobTypeID(b, &t.key)
				case 2:
					return gobTypeID(b, &t.elem)
				}
				return errGobUnchecked
			})
		case 4, 5, 6:
			t.kind = gobBytes
			return gobFields(b, func(f int) error {
				if f != 0 {
					return errGobUnchecked
				}
				return gobSkipCommonType(b)
			})
		}
		return errGobUnchecked
	})
	if err != nil {
		return err
	}
	if t.kind == 0 || id > 1<<31 {
		return errGobUnchecked
	}
	if _, builtin := gobBuiltinTypes[int(id)]; builtin {
		return errGobUnchecked
	}
	c.types[int(id)] = t
	return nil
}

// fieldTypes parses []fieldType{Name string; Id int}.
func (c *gobChecker) fieldTypes(b *[]byte, fields *[]int) error {
	n, ok := gobUint(b)
	if !ok || n > uint64(len(*b)) {
		return errGobUnchecked
	}
	*fields = make([]int, n)
	for i := range *fields {
		err := gobFields(b, func(f int) error {
			switch f {
			case 0:
				return gobSkipBytes(b)
			case 1:
				return gobTypeID(b, &(*fields)[i])
			}
			return errGobUnchecked
		})
		if err != nil {
			return err
		}
	}
	return nil
}

// gobFields walks the delta-numbered fields of a struct, calling fn with each
// field number; fn consumes the field's value.
func gobFields(b *[]byte, fn func(field int) error) error {
	field := -1
	for {
		delta, ok := gobUint(b)
		if !ok || delta > 1<<16 {
			return errGobUnchecked
		}
		if delta == 0 {
			return nil
		}
		field += int(delta)
		if err := fn(field); err != nil {
			return err
		}
	}
}

func gobSkipCommonType(b *[]byte) error {
	return gobFields(b, func(f int) error {
		switch f {
		case 0:
			return gobSkipBytes(b)
		case 1:
			return gobSkipUints(b, 1)
		}
		return errGobUnchecked
	})
}

func gobTypeID(b *[]byte, id *int) error {
	v, ok := gobInt(b)
	if !ok || v < 0 || v > 1<<31 {
		return errGobUnchecked
	}
	*id = int(v)
	return nil
}

func gobSkipUints(b *[]byte, n int) error {
	for range n {
		if _, ok := gobUint(b); !ok {
			return errGobUnchecked
		}
	}
	return nil
}

func gobSkipBytes(b *[]byte) error {
	n, ok := gobUint(b)
	if !ok || n > uint64(len(*b)) {
		return errGobUnchecked
	}
	*b = (*b)[n:]
	return nil
}

// gobUint reads one of gob's unsigned integers: a byte below 128, or a
// negated byte count followed by that many big-endian bytes.
func gobUint(b *[]byte) (uint64, bool) {
	if len(*b) == 0 {
		return 0, false
	}
	first := (*b)[0]
	if first < 0x80 {
		*b = (*b)[1:]
		return uint64(first), true
	}
	n := 256 - int(first) // the byte is the count, negated
	if n > 8 || n >= len(*b) {
		return 0, false
	}
	var v uint64
	for _, c := range (*b)[1 : 1+n] {
		v = v<<8 | uint64(c)
	}
	*b = (*b)[1+n:]
	return v, true
}

// gobInt reads one of gob's signed integers: bit 0 of the unsigned encoding
// says whether the rest is complemented.
func gobInt(b *[]byte) (int64, bool) {
	u, ok := gobUint(b)
	if !ok {
		return 0, false
	}
	if u&1 != 0 {
		return ^int64(u >> 1), true
	}
	return int64(u >> 1), true
}
