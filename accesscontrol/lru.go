package accesscontrol

import "container/list"

// lru is a map bounded to max entries that forgets the least recently used
// one when a new key would exceed the bound, so that a spray of client
// addresses or account names cannot grow memory. It is not safe for
// concurrent use: the owner holds its lock.
type lru[K comparable, V any] struct {
	max   int
	items map[K]*list.Element
	order *list.List // front: most recently used
}

type lruItem[K comparable, V any] struct {
	key K
	val V
}

func newLRU[K comparable, V any](max int) *lru[K, V] {
	return &lru[K, V]{max: max, items: map[K]*list.Element{}, order: list.New()}
}

// get returns the value of k and marks it used.
func (c *lru[K, V]) get(k K) (V, bool) {
	if el, ok := c.items[k]; ok {
		c.order.MoveToFront(el)
		return el.Value.(*lruItem[K, V]).val, true
	}
	var zero V
	return zero, false
}

// getOrAdd returns the value of k, adding mk() first when k is absent
// (forgetting the least recently used entry when full).
func (c *lru[K, V]) getOrAdd(k K, mk func() V) V {
	if v, ok := c.get(k); ok {
		return v
	}
	if c.order.Len() >= c.max {
		oldest := c.order.Back()
		c.order.Remove(oldest)
		delete(c.items, oldest.Value.(*lruItem[K, V]).key)
	}
	v := mk()
	c.items[k] = c.order.PushFront(&lruItem[K, V]{key: k, val: v})
	return v
}

func (c *lru[K, V]) delete(k K) {
	if el, ok := c.items[k]; ok {
		c.order.Remove(el)
		delete(c.items, k)
	}
}

// deleteIf removes every entry for which drop is true.
func (c *lru[K, V]) deleteIf(drop func(K, V) bool) {
	for el := c.order.Front(); el != nil; {
		next := el.Next()
		it := el.Value.(*lruItem[K, V])
		if drop(it.key, it.val) {
			c.order.Remove(el)
			delete(c.items, it.key)
		}
		el = next
	}
}

func (c *lru[K, V]) len() int { return c.order.Len() }
