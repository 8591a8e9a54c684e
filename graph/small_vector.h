#pragma once
// SmallVector<T, N>: a vector that keeps up to N elements inline. Shapes, strides and the gradient lists
// passed through the backward engine are almost always short; keeping them inline saves a heap
// allocation per tensor and per node, which is most of the per-op overhead on small tensors.
#include <algorithm>
#include <cstddef>
#include <cstdlib>
#include <initializer_list>
#include <iterator>
#include <memory>
#include <new>
#include <type_traits>
#include <utility>

namespace graft {

template <class T, size_t N>
class SmallVector {
 public:
  using value_type = T;
  using iterator = T*;
  using const_iterator = const T*;
  using size_type = size_t;

  SmallVector() = default;
  explicit SmallVector(size_t n) { resize(n); }
  SmallVector(size_t n, const T& value) { assign(n, value); }
  SmallVector(std::initializer_list<T> init) { append(init.begin(), init.end()); }
  template <class It, class = typename std::iterator_traits<It>::iterator_category>
  SmallVector(It first, It last) { append(first, last); }
  SmallVector(const SmallVector& other) { append(other.begin(), other.end()); }
  SmallVector(SmallVector&& other) noexcept { take(std::move(other)); }
  ~SmallVector() { destroy_all(); release(); }

  SmallVector& operator=(const SmallVector& other) {
    if (this != &other) { clear(); append(other.begin(), other.end()); }
    return *this;
  }
  SmallVector& operator=(SmallVector&& other) noexcept {
    if (this != &other) { destroy_all(); release(); take(std::move(other)); }
    return *this;
  }
  SmallVector& operator=(std::initializer_list<T> init) {
    clear();
    append(init.begin(), init.end());
    return *this;
  }

  T* data() { return ptr_; }
  const T* data() const { return ptr_; }
  size_t size() const { return size_; }
  bool empty() const { return size_ == 0; }
  size_t capacity() const { return cap_; }
  T* begin() { return ptr_; }
  T* end() { return ptr_ + size_; }
  const T* begin() const { return ptr_; }
  const T* end() const { return ptr_ + size_; }
  T& operator[](size_t i) { return ptr_[i]; }
  const T& operator[](size_t i) const { return ptr_[i]; }
  T& front() { return ptr_[0]; }
  const T& front() const { return ptr_[0]; }
  T& back() { return ptr_[size_ - 1]; }
  const T& back() const { return ptr_[size_ - 1]; }

  void reserve(size_t n) {
    if (n <= cap_) return;
    size_t new_cap = std::max(n, cap_ * 2);
    T* fresh = static_cast<T*>(::operator new(new_cap * sizeof(T), std::align_val_t(alignof(T))));
    std::uninitialized_move(ptr_, ptr_ + size_, fresh);
    destroy_all_keep_size();
    release();
    ptr_ = fresh;
    cap_ = new_cap;
  }
  void push_back(const T& v) { emplace_back(v); }
  void push_back(T&& v) { emplace_back(std::move(v)); }
  template <class... A>
  T& emplace_back(A&&... args) {
    if (size_ == cap_) {
      T tmp(std::forward<A>(args)...);  // args may alias our own storage
      reserve(size_ + 1);
      return *new (ptr_ + size_++) T(std::move(tmp));
    }
    return *new (ptr_ + size_++) T(std::forward<A>(args)...);
  }
  void pop_back() { ptr_[--size_].~T(); }
  void clear() { destroy_all(); }
  void resize(size_t n) {
    if (n < size_) { std::destroy(ptr_ + n, ptr_ + size_); size_ = n; return; }
    reserve(n);
    for (; size_ < n; ++size_) new (ptr_ + size_) T();
  }
  void resize(size_t n, const T& value) {
    if (n < size_) { std::destroy(ptr_ + n, ptr_ + size_); size_ = n; return; }
    reserve(n);
    for (; size_ < n; ++size_) new (ptr_ + size_) T(value);
  }
  void assign(size_t n, const T& value) { clear(); resize(n, value); }
  template <class It>
  void append(It first, It last) {
    reserve(size_ + static_cast<size_t>(std::distance(first, last)));
    for (; first != last; ++first) new (ptr_ + size_++) T(*first);
  }
  T* insert(T* pos, const T& value) {
    size_t at = static_cast<size_t>(pos - ptr_);
    T copy = value;
    emplace_back(std::move(copy));
    std::rotate(ptr_ + at, ptr_ + size_ - 1, ptr_ + size_);
    return ptr_ + at;
  }
  T* erase(T* pos) {
    std::move(pos + 1, ptr_ + size_, pos);
    pop_back();
    return pos;
  }

  friend bool operator==(const SmallVector& a, const SmallVector& b) {
    return a.size_ == b.size_ && std::equal(a.begin(), a.end(), b.begin());
  }

 private:
  bool is_inline() const { return ptr_ == reinterpret_cast<const T*>(inline_); }
  void destroy_all_keep_size() { std::destroy(ptr_, ptr_ + size_); }
  void destroy_all() { std::destroy(ptr_, ptr_ + size_); size_ = 0; }
  void release() {
    if (!is_inline()) ::operator delete(ptr_, std::align_val_t(alignof(T)));
    ptr_ = reinterpret_cast<T*>(inline_);
    cap_ = N;
  }
  void take(SmallVector&& other) {
    if (other.is_inline()) {
      std::uninitialized_move(other.begin(), other.end(), ptr_);
      size_ = other.size_;
      other.destroy_all();
    } else {
      ptr_ = other.ptr_;
      size_ = other.size_;
      cap_ = other.cap_;
      other.ptr_ = reinterpret_cast<T*>(other.inline_);
      other.size_ = 0;
      other.cap_ = N;
    }
  }

  T* ptr_ = reinterpret_cast<T*>(inline_);
  size_t size_ = 0;
  size_t cap_ = N;
  alignas(T) unsigned char inline_[N * sizeof(T)];
};

}  // namespace graft
