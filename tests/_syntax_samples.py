"""Small real files in each language and the chunks ``chunk_file`` must cut them into.

Each case is ``(path, source, [(symbol, start_line, end_line), ...])`` for
``chunk_file(path, source[1:], window_pieces=150, merge_pieces=0)``: a window
small enough that classes split into their members, and no merging, so every
definition shows as its own chunk. The expected chunks were checked by hand:
leading comments, decorators and attributes open their definition's chunk,
methods are qualified by their class (``impl``, receiver, namespace), closing
braces join the chunk before them.
"""

from __future__ import annotations

WINDOW = 150

SAMPLES: list[tuple[str, str, list[tuple[str | None, int, int]]]] = [
    (
        "src/sample.py",
        r'''
"""Rate limiting for outgoing requests."""

import time
from dataclasses import dataclass

DEFAULT_RATE = 10.0


@dataclass
class Bucket:
    """A token bucket: ``rate`` tokens a second, at most ``capacity``."""

    rate: float
    capacity: float
    tokens: float = 0.0
    updated: float = 0.0

    # Refill first, so a long idle time is credited.
    def take(self, now: float) -> bool:
        """Take one token if there is one."""
        self.refill(now)
        if self.tokens >= 1:
            self.tokens -= 1
            return True
        return False

    def refill(self, now: float) -> None:
        elapsed = now - self.updated
        self.tokens = min(self.capacity, self.tokens + elapsed * self.rate)
        self.updated = now


def wait_time(bucket: Bucket) -> float:
    """Seconds until the next token."""
    return max(0.0, (1 - bucket.tokens) / bucket.rate)


if __name__ == "__main__":
    print(wait_time(Bucket(DEFAULT_RATE, 5)))
''',
        [
            (None, 1, 6),
            ('Bucket', 9, 16),
            ('Bucket.take', 18, 25),
            ('Bucket.refill', 27, 30),
            ('wait_time', 33, 35),
            (None, 38, 39),
        ],
    ),
    (
        "src/sample.js",
        r"""
// Small event emitter used by the UI.
import { log } from "./log.js";

export class Emitter {
  constructor() {
    this.handlers = new Map();
  }

  /** Register `fn` for `event`; returns a function that unregisters it. */
  on(event, fn) {
    const list = this.handlers.get(event) ?? [];
    list.push(fn);
    this.handlers.set(event, list);
    return () => this.off(event, fn);
  }

  off(event, fn) {
    const list = this.handlers.get(event) ?? [];
    this.handlers.set(event, list.filter((h) => h !== fn));
  }
}

export const once = (emitter, event, fn) => {
  const off = emitter.on(event, (...args) => {
    off();
    fn(...args);
  });
  return off;
};

function debugName(event) {
  return `event:${event}`;
}
""",
        [
            (None, 1, 2),
            ('Emitter', 4, 7),
            ('Emitter.on', 9, 15),
            ('Emitter.off', 17, 21),
            ('once', 23, 29),
            ('debugName', 31, 33),
        ],
    ),
    (
        "src/sample.ts",
        r"""
import type { Request } from "./http";

/** How long to wait between retries. */
export interface RetryPolicy {
  attempts: number;
  delayMs: number;
}

export type Handler = (req: Request) => Promise<Response>;

export class RetryingClient {
  constructor(private readonly policy: RetryPolicy) {}

  async send(req: Request, handler: Handler): Promise<Response> {
    let last: unknown;
    for (let i = 0; i < this.policy.attempts; i++) {
      try {
        return await handler(req);
      } catch (err) {
        last = err;
        await sleep(this.policy.delayMs * 2 ** i);
      }
    }
    throw last;
  }
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

export enum Status { Idle, Busy }
""",
        [
            (None, 1, 1),
            ('RetryPolicy', 3, 7),
            ('Handler', 9, 9),
            ('RetryingClient', 11, 12),
            ('RetryingClient.send', 14, 26),
            ('sleep', 28, 30),
            ('Status', 32, 32),
        ],
    ),
    (
        "src/sample.tsx",
        r"""
import React, { useState } from "react";

type Props = { label: string; onToggle?: (on: boolean) => void };

/** A switch that remembers its state. */
export function Toggle({ label, onToggle }: Props) {
  const [on, setOn] = useState(false);
  const flip = () => {
    setOn(!on);
    onToggle?.(!on);
  };
  return (
    <button aria-pressed={on} onClick={flip}>
      {label}: {on ? "on" : "off"}
    </button>
  );
}

export const ToggleGroup = ({ labels }: { labels: string[] }) => (
  <div>
    {labels.map((l) => (
      <Toggle key={l} label={l} />
    ))}
  </div>
);
""",
        [
            (None, 1, 1),
            ('Props', 3, 3),
            ('Toggle', 5, 7),
            ('Toggle.flip', 8, 11),
            ('Toggle', 12, 17),
            ('ToggleGroup', 19, 25),
        ],
    ),
    (
        "src/sample.go",
        r"""
// Package cache keeps recently used values in memory.
package cache

import (
	"sync"
	"time"
)

// Entry is one cached value and when it expires.
type Entry struct {
	Value   string
	Expires time.Time
}

// Cache is safe for concurrent use.
type Cache struct {
	mu    sync.Mutex
	items map[string]Entry
	ttl   time.Duration
}

// New makes an empty cache whose entries live for ttl.
func New(ttl time.Duration) *Cache {
	return &Cache{items: map[string]Entry{}, ttl: ttl}
}

// Get returns the value of key if it has not expired.
func (c *Cache) Get(key string) (string, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.items[key]
	if !ok || time.Now().After(e.Expires) {
		delete(c.items, key)
		return "", false
	}
	return e.Value, true
}

// Put stores value under key.
func (c *Cache) Put(key, value string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.items[key] = Entry{Value: value, Expires: time.Now().Add(c.ttl)}
}
""",
        [
            (None, 1, 7),
            ('Entry', 9, 13),
            ('Cache', 15, 20),
            ('New', 22, 25),
            ('Cache.Get', 27, 37),
            ('Cache.Put', 39, 44),
        ],
    ),
    (
        "src/sample.rs",
        r"""
//! Geometry helpers.
use std::fmt;

/// A point in the plane.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Point {
    pub x: f64,
    pub y: f64,
}

impl Point {
    /// The distance to the origin.
    pub fn norm(&self) -> f64 {
        (self.x * self.x + self.y * self.y).sqrt()
    }

    /// The point halfway to `other`.
    pub fn midpoint(&self, other: &Point) -> Point {
        Point { x: (self.x + other.x) / 2.0, y: (self.y + other.y) / 2.0 }
    }
}

impl fmt::Display for Point {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "({}, {})", self.x, self.y)
    }
}

pub trait Shape {
    fn area(&self) -> f64;
}
""",
        [
            (None, 1, 2),
            ('Point', 4, 9),
            ('Point', 11, 15),
            ('Point.midpoint', 17, 21),
            ('Point', 23, 27),
            ('Shape', 29, 31),
        ],
    ),
    (
        "src/Sample.java",
        r"""
package com.example.shop;

import java.util.ArrayList;
import java.util.List;

/** A shopping cart that totals its items. */
public class Cart {
    private final List<Item> items = new ArrayList<>();

    /** Adds an item; quantities below one are ignored. */
    public void add(Item item, int quantity) {
        for (int i = 0; i < quantity; i++) {
            items.add(item);
        }
    }

    /** The total price in cents. */
    @Override
    public int total() {
        return items.stream().mapToInt(Item::priceCents).sum();
    }

    public boolean isEmpty() {
        return items.isEmpty();
    }
}

record Item(String name, int priceCents) {}
""",
        [
            (None, 1, 4),
            ('Cart', 6, 8),
            ('Cart.add', 10, 15),
            ('Cart.total', 17, 21),
            ('Cart.isEmpty', 23, 26),
            ('Item', 28, 28),
        ],
    ),
    (
        "src/sample.c",
        r"""
#include <stdlib.h>
#include <string.h>

#define MAX_NAME 64

/* A singly linked list of names. */
struct node {
    char name[MAX_NAME];
    struct node *next;
};

typedef int (*visit_fn)(const struct node *n, void *ctx);

/* Prepend a copy of name to the list. */
struct node *push(struct node *head, const char *name)
{
    struct node *n = malloc(sizeof *n);
    if (n == NULL)
        return head;
    strncpy(n->name, name, MAX_NAME - 1);
    n->name[MAX_NAME - 1] = '\0';
    n->next = head;
    return n;
}

/* Count the nodes of a list. */
size_t length(const struct node *head)
{
    size_t count = 0;
    for (; head != NULL; head = head->next)
        count++;
    return count;
}
""",
        [
            (None, 1, 4),
            ('node', 6, 10),
            ('visit_fn', 12, 12),
            ('push', 14, 24),
            ('length', 26, 33),
        ],
    ),
    (
        "src/sample.cpp",
        r"""
#include <string>
#include <vector>

namespace shop {

// A product with a name and a price in cents.
class Product {
 public:
  Product(std::string name, int cents) : name_(std::move(name)), cents_(cents) {}

  const std::string& name() const { return name_; }

  // The price with tax, rounded down.
  int priceWithTax(double rate) const {
    return static_cast<int>(cents_ * (1.0 + rate));
  }

 private:
  std::string name_;
  int cents_;
};

template <typename T>
T sum(const std::vector<T>& values) {
  T total{};
  for (const auto& v : values) total += v;
  return total;
}

}  // namespace shop
""",
        [
            (None, 1, 2),
            ('shop.Product', 4, 9),
            ('shop.Product.name', 11, 11),
            ('shop.Product.priceWithTax', 13, 16),
            ('shop.Product', 18, 21),
            ('shop.sum', 23, 30),
        ],
    ),
    (
        "src/sample.rb",
        r"""
require "json"

# Accounts and their owners.
module Accounts
  # A user account.
  class User
    attr_reader :name, :email

    def initialize(name, email)
      @name = name
      @email = email
    end

    # The name with a capital first letter.
    def display_name
      name.split.map(&:capitalize).join(" ")
    end

    def self.from_json(text)
      data = JSON.parse(text)
      new(data["name"], data["email"])
    end
  end
end
""",
        [
            (None, 1, 1),
            ('Accounts.User', 3, 7),
            ('Accounts.User.initialize', 9, 12),
            ('Accounts.User.display_name', 14, 17),
            ('Accounts.User.from_json', 19, 24),
        ],
    ),
    (
        "src/Sample.cs",
        r"""
using System;
using System.Collections.Generic;

namespace Shop.Core
{
    /// <summary>A cart that totals its items.</summary>
    public class Cart
    {
        private readonly List<int> _prices = new List<int>();

        public int Count => _prices.Count;

        /// <summary>Adds a price in cents.</summary>
        public void Add(int cents)
        {
            if (cents < 0) throw new ArgumentOutOfRangeException(nameof(cents));
            _prices.Add(cents);
        }

        public int Total()
        {
            var total = 0;
            foreach (var p in _prices) total += p;
            return total;
        }
    }
}
""",
        [
            (None, 1, 2),
            ('Shop.Core.Cart', 4, 9),
            ('Shop.Core.Cart.Count', 11, 11),
            ('Shop.Core.Cart.Add', 13, 18),
            ('Shop.Core.Cart.Total', 20, 27),
        ],
    ),
    (
        "src/sample.php",
        r"""
<?php

namespace App\Models;

use JsonSerializable;

/** A user of the shop. */
class User implements JsonSerializable
{
    private string $name;

    public function __construct(string $name)
    {
        $this->name = $name;
    }

    /** The name with a capital first letter. */
    public function displayName(): string
    {
        return ucfirst($this->name);
    }

    public function jsonSerialize(): array
    {
        return ['name' => $this->name];
    }
}

function slugify(string $text): string
{
    return strtolower(preg_replace('/[^a-z0-9]+/i', '-', $text));
}
""",
        [
            (None, 1, 5),
            ('User', 7, 10),
            ('User.__construct', 12, 15),
            ('User.displayName', 17, 21),
            ('User.jsonSerialize', 23, 27),
            ('slugify', 29, 32),
        ],
    ),
    (
        "src/Sample.kt",
        r"""
package com.example.geometry

import kotlin.math.sqrt

/** A point in the plane. */
data class Point(val x: Double, val y: Double) {
    /** The distance to the origin. */
    fun norm(): Double = sqrt(x * x + y * y)

    operator fun plus(other: Point): Point {
        return Point(x + other.x, y + other.y)
    }

    companion object {
        val ORIGIN = Point(0.0, 0.0)
    }
}

fun centroid(points: List<Point>): Point {
    val sx = points.sumOf { it.x }
    val sy = points.sumOf { it.y }
    return Point(sx / points.size, sy / points.size)
}
""",
        [
            (None, 1, 3),
            ('Point', 5, 6),
            ('Point.norm', 7, 8),
            ('Point.plus', 10, 12),
            ('Point.Companion', 14, 17),
            ('centroid', 19, 23),
        ],
    ),
    (
        "src/Sample.scala",
        r"""
package shop

/** A cart of item prices in cents. */
class Cart(items: List[Int]) {
  def total: Int = items.sum

  def add(price: Int): Cart = {
    require(price >= 0, "negative price")
    new Cart(price :: items)
  }
}

object Cart {
  def empty: Cart = new Cart(Nil)
}

trait Discount {
  def apply(total: Int): Int
}
""",
        [
            (None, 1, 1),
            ('Cart', 3, 11),
            ('Cart', 13, 15),
            ('Discount', 17, 19),
        ],
    ),
    (
        "src/Sample.swift",
        r"""
import Foundation

/// A point in the plane.
struct Point {
    var x: Double
    var y: Double

    /// The distance to the origin.
    func norm() -> Double {
        return (x * x + y * y).squareRoot()
    }
}

protocol Shape {
    func area() -> Double
}

final class Circle: Shape {
    let radius: Double

    init(radius: Double) {
        self.radius = radius
    }

    func area() -> Double {
        return Double.pi * radius * radius
    }
}
""",
        [
            (None, 1, 1),
            ('Point', 3, 12),
            ('Shape', 14, 16),
            ('Circle', 18, 28),
        ],
    ),
]
