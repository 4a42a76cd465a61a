// A function of a text remembered by text, in a bounded map: what requests repeat (their
// parameters' texts, their SQL) is worked out once, and a client making up new texts cannot grow
// the memory without bound (the map starts afresh when full). Answers must not be mutated.
export const memoized = <A>(compute: (text: string) => A, size = 1_000) => {
  const answers = new Map<string, A>()
  return (text: string): A => {
    let answer = answers.get(text)
    if (answer === undefined) {
      answer = compute(text)
      if (answers.size >= size) answers.clear()
      answers.set(text, answer)
    }
    return answer
  }
}
