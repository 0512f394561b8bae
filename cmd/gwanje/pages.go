package main

import (
	"errors"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
)

// allPages follows a List RPC's pages (proto/API.md, paging): list is
// called with "" and then with each next_page_token until the last page,
// and every page's items (each repeated field of the response) are appended
// to the first response, which is returned with next_page_token empty, so
// that tables and --output json show the whole list.
func allPages[R proto.Message](list func(token string) (R, error)) (R, error) {
	first, err := list("")
	if err != nil {
		return first, err
	}
	m := first.ProtoReflect()
	next := m.Descriptor().Fields().ByName("next_page_token")
	if next == nil {
		return first, nil
	}
	for token := m.Get(next).String(); token != ""; {
		page, err := list(token)
		if err != nil {
			return first, err
		}
		p := page.ProtoReflect()
		fields := p.Descriptor().Fields()
		for i := 0; i < fields.Len(); i++ {
			if f := fields.Get(i); f.IsList() {
				dst, src := m.Mutable(f).List(), p.Get(f).List()
				for j := 0; j < src.Len(); j++ {
					dst.Append(src.Get(j))
				}
			}
		}
		t := p.Get(next).String()
		if t == token {
			return first, errors.New("the server repeated a page token: the list may be incomplete")
		}
		token = t
	}
	m.Set(next, protoreflect.ValueOfString(""))
	return first, nil
}
