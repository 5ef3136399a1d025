package interrupt

import (
	"fmt"

	"github.com/kubestellar/ksplugins/internal/leb128"
)

// Opcodes whose immediate is a function index.
const (
	opReturnCall = 0x12
	opRefFunc    = 0xd2
)

// yieldType is the type of sched_yield, () -> (i32), as a type section
// entry.
var yieldType = []byte{0x60, 0x00, 0x01, valI32}

// yieldImportEntry is the import of sched_yield, of type typeIndex, as an
// import section entry.
func yieldImportEntry(typeIndex uint32) []byte {
	b := leb128.AppendU32(nil, uint32(len(yieldModule)))
	b = append(b, yieldModule...)
	b = leb128.AppendU32(b, uint32(len(yieldName)))
	b = append(b, yieldName...)
	return leb128.AppendU32(append(b, 0x00), typeIndex)
}

// shifted is function index i once an import is added at index from.
func shifted(i, from uint32) uint32 {
	if i >= from {
		return i + 1
	}
	return i
}

// isNameSection reports whether a custom section's body is the "name"
// section.
func isNameSection(body []byte) bool {
	r := reader{b: body}
	return r.name() == "name" && r.err == nil
}

// shifter copies what its reader reads, with the function indices it is
// told of moved up by one from from.
type shifter struct {
	r      reader
	out    []byte
	copied int
	from   uint32
}

// flush copies what was read since the last flush.
func (s *shifter) flush() {
	s.out = append(s.out, s.r.b[s.copied:s.r.off]...)
	s.copied = s.r.off
}

// funcIndex reads a function index and writes it moved.
func (s *shifter) funcIndex() {
	s.flush()
	i := s.r.u32()
	if s.r.err != nil {
		return
	}
	s.out = leb128.AppendU32(s.out, shifted(i, s.from))
	s.copied = s.r.off
}

// constant reads a constant expression, moving the index of a ref.func.
func (s *shifter) constant() {
	for s.r.err == nil {
		op := s.r.byte()
		switch op {
		case opRefFunc:
			s.funcIndex()
			continue
		case 0x02, opLoop, 0x04:
			s.r.off--
			s.r.fail("a block in a constant expression")
			return
		}
		skipImmediates(&s.r, op)
		if op == opEnd {
			return
		}
	}
}

// shiftFunctions returns the body of a global, export, start or element
// section with its function indices moved up by one from from.
// globalItems is where a global section's entries start.
func shiftFunctions(sec *section, from uint32, globalItems int) ([]byte, error) {
	s := &shifter{r: reader{b: sec.body, base: sec.at}, from: from}
	switch sec.id {
	case secGlobal:
		s.r.off = globalItems
		for s.r.off < len(s.r.b) && s.r.err == nil {
			s.r.valueType()
			s.r.byte()
			s.constant()
		}
	case secExport:
		for n := s.r.count(); n > 0 && s.r.err == nil; n-- {
			s.r.name()
			if kind := s.r.byte(); kind == 0x00 {
				s.funcIndex()
			} else {
				s.r.u32()
			}
		}
	case secStart:
		s.funcIndex()
	case secElement:
		for n := s.r.count(); n > 0 && s.r.err == nil; n-- {
			s.element()
		}
	default:
		return nil, fmt.Errorf("interrupt: no function indices to move in section %d", sec.id)
	}
	if s.r.err != nil {
		return nil, s.r.err
	}
	s.r.off = len(s.r.b)
	s.flush()
	return s.out, nil
}

// element reads an element segment, in any of its eight encodings, moving
// its function indices.
func (s *shifter) element() {
	flags := s.r.u32()
	if flags > 7 {
		s.r.fail(fmt.Sprintf("element segment of unknown kind %d", flags))
		return
	}
	active, explicitTable, expressions := flags&0x01 == 0, flags&0x02 != 0, flags&0x04 != 0
	if active && explicitTable {
		s.r.u32()
	}
	if active {
		s.constant()
	}
	if !active || explicitTable {
		s.r.byte()
	}
	for n := s.r.count(); n > 0 && s.r.err == nil; n-- {
		if expressions {
			s.constant()
		} else {
			s.funcIndex()
		}
	}
}
