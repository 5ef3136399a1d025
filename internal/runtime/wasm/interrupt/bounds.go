package interrupt

import "fmt"

// Bounds Instrument holds a module to, beyond the format's own. wazero
// allocates what a module declares before it reads the declared items: a
// vector's count, a function's locals, a table's initial size. A module of
// a few bytes declaring four billion of something would make it ask the Go
// runtime for tens of GiB, and a failed allocation ends the whole process,
// not the load. So every count must fit in the bytes that follow it (each
// item takes at least one), and the two counts that need no bytes are
// capped: far above what a compiler emits (a large Go guest has under
// 100,000 functions and a few hundred locals in a function), far below what
// would hurt the host.
const (
	// MaxLocals is the most locals a function may declare, as in web
	// browsers' implementation limits.
	MaxLocals = 50_000
	// MaxTableElements is the largest initial size of a table: eight bytes
	// of the host's memory an element, per instance.
	MaxTableElements = 1 << 20
)

// counts is what Instrument learns from reading the sections other than
// code, each read whole so that its counts are checked.
type counts struct {
	importedGlobals, globals uint32
	// types and imports are the counts of those sections, whose entries
	// start at typeItems and importItems; funcImports counts the
	// imported functions.
	types, imports         uint32
	typeItems, importItems int
	funcImports            uint32
	// globalItems is where the global section's entries start, after
	// their count, in the section's body.
	globalItems int
	// yield is the function index of the sched_yield import, when yields.
	yield  uint32
	yields bool
}

// read reads s whole.
func (c *counts) read(s *section) error {
	r := &reader{b: s.body, base: s.at}
	switch s.id {
	case secCustom:
		readCustom(r)
	case secType:
		c.types = r.count()
		c.typeItems = r.off
		for n := c.types; n > 0 && r.err == nil; n-- {
			if form := r.byte(); form != 0x60 && r.err == nil {
				r.fail(fmt.Sprintf("unknown type form 0x%02x", form))
			}
			for range 2 { // parameters, results
				for m := r.count(); m > 0 && r.err == nil; m-- {
					r.valueType()
				}
			}
		}
	case secImport:
		var funcs uint32
		c.imports = r.count()
		c.importItems = r.off
		defer func() { c.funcImports = funcs }()
		for n := c.imports; n > 0 && r.err == nil; n-- {
			module, name := r.name(), r.name()
			switch kind := r.byte(); kind {
			case 0x00: // function: type index
				r.u32()
				if module == yieldModule && name == yieldName && !c.yields {
					c.yield, c.yields = funcs, true
				}
				funcs++
			case 0x01:
				r.table()
			case 0x02:
				r.limits()
			case kindGlobal:
				r.valueType()
				r.byte()
				c.importedGlobals++
			case 0x04: // tag: attribute, type index
				r.byte()
				r.u32()
			default:
				r.fail(fmt.Sprintf("import of unknown kind 0x%02x", kind))
			}
		}
	case secFunction:
		for n := r.count(); n > 0 && r.err == nil; n-- {
			r.u32()
		}
	case secTable:
		for n := r.count(); n > 0 && r.err == nil; n-- {
			r.table()
		}
	case secMemory:
		for n := r.count(); n > 0 && r.err == nil; n-- {
			r.limits()
		}
	case secGlobal:
		c.globals = r.count()
		c.globalItems = r.off
		for n := c.globals; n > 0 && r.err == nil; n-- {
			r.valueType()
			r.byte()
			r.constant()
		}
	case secExport:
		for n := r.count(); n > 0 && r.err == nil; n-- {
			r.name()
			r.byte()
			r.u32()
		}
	case secStart, secDataCount:
		r.u32()
	case secElement:
		for n := r.count(); n > 0 && r.err == nil; n-- {
			r.element()
		}
	case secCode:
		// Read while it is instrumented.
		return nil
	case secData:
		for n := r.count(); n > 0 && r.err == nil; n-- {
			switch flags := r.u32(); flags {
			case 0:
				r.constant()
			case 1:
			case 2:
				r.u32() // memory index
				r.constant()
			default:
				r.fail(fmt.Sprintf("data segment of unknown kind %d", flags))
			}
			r.bytes(int(r.count()))
		}
	case secTag:
		for n := r.count(); n > 0 && r.err == nil; n-- {
			r.byte()
			r.u32()
		}
	default:
		r.off = 0
		r.base = s.at - 1
		r.fail(fmt.Sprintf("unknown section id %d", s.id))
	}
	if r.err == nil && r.off != len(r.b) {
		r.fail("bytes after the section's last item")
	}
	return r.err
}

// count reads a vector's length, which must fit in the bytes that follow.
func (r *reader) count() uint32 {
	at := r.off
	n := r.u32()
	if left := len(r.b) - r.off; r.err == nil && uint64(n) > uint64(left) {
		r.off = at
		r.fail(fmt.Sprintf("a count of %d, more than the %d bytes that follow it", n, left))
	}
	return n
}

// table reads a table type: a reference type and limits.
func (r *reader) table() {
	r.valueType()
	at := r.off
	flags := r.byte()
	if min := r.u32(); r.err == nil && min > MaxTableElements {
		r.off = at
		r.fail(fmt.Sprintf("a table of %d elements, more than the %d allowed", min, MaxTableElements))
		return
	}
	if flags&0x01 != 0 {
		r.u32()
	}
}

// constant reads a constant expression: instructions up to their end.
func (r *reader) constant() {
	for r.err == nil {
		op := r.byte()
		if op == 0x02 || op == opLoop || op == 0x04 {
			r.off--
			r.fail("a block in a constant expression")
			return
		}
		skipImmediates(r, op)
		if op == opEnd {
			return
		}
	}
}

// element reads an element segment, in any of its eight encodings.
func (r *reader) element() {
	flags := r.u32()
	if flags > 7 {
		r.fail(fmt.Sprintf("element segment of unknown kind %d", flags))
		return
	}
	active, explicitTable, expressions := flags&0x01 == 0, flags&0x02 != 0, flags&0x04 != 0
	if active && explicitTable {
		r.u32()
	}
	if active {
		r.constant()
	}
	if !active || explicitTable {
		r.byte() // element kind or reference type
	}
	for n := r.count(); n > 0 && r.err == nil; n-- {
		if expressions {
			r.constant()
		} else {
			r.u32()
		}
	}
}

// readCustom reads a custom section's name and, for the "name" section
// that wazero decodes, its maps.
func readCustom(r *reader) {
	if r.name() != "name" {
		r.off = len(r.b)
		return
	}
	for r.off < len(r.b) && r.err == nil {
		id := r.byte()
		sub := reader{b: r.bytes(int(r.u32())), base: r.base + r.off}
		if r.err != nil {
			return
		}
		switch id {
		case 1: // function names
			sub.nameMap()
		case 2: // local names
			for n := sub.count(); n > 0 && sub.err == nil; n-- {
				sub.u32()
				sub.nameMap()
			}
		}
		if sub.err != nil {
			r.err = sub.err
		}
	}
}

func (r *reader) nameMap() {
	for n := r.count(); n > 0 && r.err == nil; n-- {
		r.u32()
		r.name()
	}
}
