package camsim

import (
	"bytes"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"strings"
)

// node is a minimal XML element tree used to read SOAP requests and probes.
type node struct {
	space, local string
	attrs        []xml.Attr
	text         string
	children     []*node
}

// child returns the first direct child with the given local name.
func (n *node) child(local string) *node {
	if n == nil {
		return nil
	}
	for _, c := range n.children {
		if c.local == local {
			return c
		}
	}
	return nil
}

// find walks down local names and returns the node or nil.
func (n *node) find(path ...string) *node {
	for _, p := range path {
		n = n.child(p)
	}
	return n
}

// text returns the trimmed text of the node at path ("" when absent).
func (n *node) textAt(path ...string) string {
	m := n.find(path...)
	if m == nil {
		return ""
	}
	return strings.TrimSpace(m.text)
}

func (n *node) attr(local string) string {
	if n == nil {
		return ""
	}
	for _, a := range n.attrs {
		if a.Name.Local == local {
			return a.Value
		}
	}
	return ""
}

// Limits of the request parser.
const (
	maxXMLDepth = 32
	maxXMLNodes = 4096
)

var errBadXML = errors.New("malformed XML")

// parseXML reads one XML document into a node tree, refusing DTDs, deep
// nesting and too many elements.
func parseXML(data []byte) (*node, error) {
	dec := xml.NewDecoder(bytes.NewReader(data))
	dec.Strict = true
	var root *node
	var stack []*node
	count := 0
	for {
		tok, err := dec.Token()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("%w: %w", errBadXML, err)
		}
		switch t := tok.(type) {
		case xml.StartElement:
			count++
			if count > maxXMLNodes || len(stack) >= maxXMLDepth {
				return nil, fmt.Errorf("%w: too deep or too many elements", errBadXML)
			}
			n := &node{space: t.Name.Space, local: t.Name.Local, attrs: t.Attr}
			if len(stack) == 0 {
				if root != nil {
					return nil, fmt.Errorf("%w: more than one root element", errBadXML)
				}
				root = n
			} else {
				p := stack[len(stack)-1]
				p.children = append(p.children, n)
			}
			stack = append(stack, n)
		case xml.EndElement:
			stack = stack[:len(stack)-1]
		case xml.CharData:
			if len(stack) > 0 {
				p := stack[len(stack)-1]
				if len(p.text) < 64<<10 {
					p.text += string(t)
				}
			} else if len(bytes.TrimSpace(t)) > 0 {
				return nil, fmt.Errorf("%w: text outside the root element", errBadXML)
			}
		case xml.Directive:
			return nil, fmt.Errorf("%w: DTD not allowed", errBadXML)
		}
	}
	if root == nil {
		return nil, fmt.Errorf("%w: no root element", errBadXML)
	}
	return root, nil
}

// usernameToken is a WS-Security UsernameToken from a request header.
type usernameToken struct {
	Username, Password, PasswordType, Nonce, NonceEncoding, Created string
}

// request is a parsed SOAP request.
type request struct {
	op       *node  // first element of Body
	action   string // op.local
	ns       string // op.space
	token    *usernameToken
	soap11   bool
	wsaMsgID string
	wsaTo    string

	rebootAfter bool // set by SystemReboot
}

// soapError is a SOAP fault to send.
type soapError struct {
	status  int
	code    string // env:Sender / env:Receiver / env:VersionMismatch
	subcode string // ter:NotAuthorized ...
	sub2    string
	reason  string
}

func (e *soapError) Error() string { return e.subcode + ": " + e.reason }

// parseRequest parses a SOAP 1.2 envelope.
func parseRequest(data []byte) (*request, error) {
	root, err := parseXML(data)
	if err != nil {
		return nil, err
	}
	if root.local != "Envelope" {
		return nil, fmt.Errorf("%w: root is %s, not Envelope", errBadXML, root.local)
	}
	r := &request{}
	switch root.space {
	case nsSOAP12:
	case nsSOAP11:
		r.soap11 = true
	default:
		return nil, fmt.Errorf("%w: unknown envelope namespace %q", errBadXML, root.space)
	}
	body := root.child("Body")
	if body == nil || len(body.children) == 0 {
		return nil, fmt.Errorf("%w: empty Body", errBadXML)
	}
	r.op = body.children[0]
	r.action, r.ns = r.op.local, r.op.space
	if h := root.child("Header"); h != nil {
		r.wsaMsgID = h.textAt("MessageID")
		r.wsaTo = h.textAt("To")
		if ut := h.find("Security", "UsernameToken"); ut != nil {
			pw := ut.child("Password")
			nonce := ut.child("Nonce")
			r.token = &usernameToken{
				Username:      ut.textAt("Username"),
				Password:      ut.textAt("Password"),
				PasswordType:  pw.attr("Type"),
				Nonce:         ut.textAt("Nonce"),
				NonceEncoding: nonce.attr("EncodingType"),
				Created:       ut.textAt("Created"),
			}
		}
	}
	return r, nil
}

// xmlEscape escapes text for element content and attributes.
func xmlEscape(s string) string {
	var b strings.Builder
	_ = xml.EscapeText(&b, []byte(s))
	return b.String()
}
