//! A small, bounded parser and evaluator for the maths that appears in final answers.
//!
//! The input is an already normalised answer (see `normalize.rs`): LaTeX such as
//! `2\sqrt{3}+\frac{\pi}{4}`, `x^{2}-1`, `\log_2 8`, `5!` or plain text such as `3/4` and
//! `x**2`. Expressions are evaluated in complex floating point at a handful of
//! deterministic pseudo-random points, which is how two algebraic answers are compared
//! (`(x+1)^2` against `x^2+2x+1`).
//!
//! Everything is bounded: at most [`MAX_TOKENS`] tokens, a recursion depth of [`MAX_DEPTH`],
//! and evaluation is a single walk over a tree of at most that many nodes (sums and products
//! are n-ary, so a long chain `1+1+...+1` stays shallow). Huge numbers become infinities, never
//! big-integer arithmetic.

use std::collections::BTreeSet;

/// Maximum number of tokens an expression may have.
pub(crate) const MAX_TOKENS: usize = 400;
/// Maximum parser recursion depth.
const MAX_DEPTH: usize = 40;
/// Largest integer a factorial or binomial is evaluated for.
const MAX_FACTORIAL: f64 = 170.0;

/// A complex number, enough for `i`, `\sqrt{-3}` and roots of unity.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) struct C {
    pub re: f64,
    pub im: f64,
}

impl C {
    const fn real(re: f64) -> Self {
        C { re, im: 0.0 }
    }
    const NAN: C = C::real(f64::NAN);

    fn is_finite(self) -> bool {
        self.re.is_finite() && self.im.is_finite()
    }
    fn is_real(self) -> bool {
        self.im.abs() <= 1e-12 * self.re.abs().max(1.0)
    }
    fn abs(self) -> f64 {
        self.re.hypot(self.im)
    }
    fn add(self, o: C) -> C {
        C {
            re: self.re + o.re,
            im: self.im + o.im,
        }
    }
    fn sub(self, o: C) -> C {
        C {
            re: self.re - o.re,
            im: self.im - o.im,
        }
    }
    fn neg(self) -> C {
        C {
            re: -self.re,
            im: -self.im,
        }
    }
    fn mul(self, o: C) -> C {
        if self.im == 0.0 && o.im == 0.0 {
            return C::real(self.re * o.re);
        }
        C {
            re: self.re * o.re - self.im * o.im,
            im: self.re * o.im + self.im * o.re,
        }
    }
    fn div(self, o: C) -> C {
        if self.im == 0.0 && o.im == 0.0 {
            return C::real(self.re / o.re);
        }
        let d = o.re * o.re + o.im * o.im;
        if d == 0.0 {
            return C::NAN;
        }
        C {
            re: (self.re * o.re + self.im * o.im) / d,
            im: (self.im * o.re - self.re * o.im) / d,
        }
    }
    fn exp(self) -> C {
        let m = self.re.exp();
        if self.im == 0.0 {
            return C::real(m);
        }
        C {
            re: m * self.im.cos(),
            im: m * self.im.sin(),
        }
    }
    fn ln(self) -> C {
        if self.im == 0.0 && self.re > 0.0 {
            return C::real(self.re.ln());
        }
        C {
            re: self.abs().ln(),
            im: self.im.atan2(self.re),
        }
    }
    fn powi(self, n: i64) -> C {
        let mut base = if n < 0 { C::real(1.0).div(self) } else { self };
        let mut e = n.unsigned_abs();
        let mut acc = C::real(1.0);
        while e > 0 {
            if e & 1 == 1 {
                acc = acc.mul(base);
            }
            base = base.mul(base);
            e >>= 1;
        }
        acc
    }
    fn pow(self, w: C) -> C {
        if w.im == 0.0 && w.re.fract() == 0.0 && w.re.abs() <= 64.0 {
            // Exact repeated squaring for small integer powers: (-2)^3 stays -8.
            return self.powi(w.re as i64);
        }
        if self.im == 0.0 && w.im == 0.0 && self.re >= 0.0 {
            return C::real(self.re.powf(w.re));
        }
        if self.re == 0.0 && self.im == 0.0 {
            return if w.re > 0.0 { C::real(0.0) } else { C::NAN };
        }
        w.mul(self.ln()).exp()
    }
    fn sqrt(self) -> C {
        if self.im == 0.0 {
            return if self.re >= 0.0 {
                C::real(self.re.sqrt())
            } else {
                C {
                    re: 0.0,
                    im: (-self.re).sqrt(),
                }
            };
        }
        let r = self.abs();
        let re = ((r + self.re) / 2.0).sqrt();
        let im = ((r - self.re) / 2.0).sqrt().copysign(self.im);
        C { re, im }
    }
    fn sin(self) -> C {
        C {
            re: self.re.sin() * self.im.cosh(),
            im: self.re.cos() * self.im.sinh(),
        }
    }
    fn cos(self) -> C {
        C {
            re: self.re.cos() * self.im.cosh(),
            im: -self.re.sin() * self.im.sinh(),
        }
    }
    fn real_only(self, f: impl Fn(f64) -> f64) -> C {
        if self.is_real() {
            C::real(f(self.re))
        } else {
            C::NAN
        }
    }
}

/// Whether two values agree: relative tolerance `tol` (absolute below 1), infinities by sign.
pub(crate) fn approx_eq(a: C, b: C, tol: f64) -> bool {
    if a.is_finite() && b.is_finite() {
        let scale = a.abs().max(b.abs()).max(1.0);
        return (a.re - b.re).abs() <= tol * scale && (a.im - b.im).abs() <= tol * scale;
    }
    // Both must be the same infinity (e.g. `\infty` and `+\infty`); NaN never agrees.
    let same = |x: f64, y: f64| {
        if x.is_nan() || y.is_nan() {
            false
        } else if x.is_infinite() || y.is_infinite() {
            x == y
        } else {
            (x - y).abs() <= tol * x.abs().max(y.abs()).max(1.0)
        }
    };
    same(a.re, b.re) && same(a.im, b.im)
}

/// The Gamma function for real arguments (Lanczos, g = 7), reflection below 1/2.
fn gamma(x: f64) -> f64 {
    const G: [f64; 9] = [
        0.999_999_999_999_809_9,
        676.520_368_121_885_1,
        -1_259.139_216_722_402_8,
        771.323_428_777_653_1,
        -176.615_029_162_140_6,
        12.507_343_278_686_905,
        -0.138_571_095_265_720_12,
        9.984_369_578_019_572e-6,
        1.505_632_735_149_311_6e-7,
    ];
    if x < 0.5 {
        let s = (std::f64::consts::PI * x).sin();
        return if s == 0.0 {
            f64::NAN
        } else {
            std::f64::consts::PI / (s * gamma(1.0 - x))
        };
    }
    let x = x - 1.0;
    let t = x + 7.5;
    let a = G
        .iter()
        .enumerate()
        .skip(1)
        .fold(G[0], |acc, (i, g)| acc + g / (x + i as f64));
    (2.0 * std::f64::consts::PI).sqrt() * t.powf(x + 0.5) * (-t).exp() * a
}

/// Named constants.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) enum Constant {
    Pi,
    E,
    I,
    Infinity,
}

/// Unary functions.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) enum Func {
    Sin,
    Cos,
    Tan,
    Cot,
    Sec,
    Csc,
    Asin,
    Acos,
    Atan,
    Sinh,
    Cosh,
    Tanh,
    Ln,
    Exp,
    Abs,
    Floor,
    Ceil,
}

impl Func {
    fn from_name(name: &str) -> Option<Func> {
        Some(match name {
            "sin" => Func::Sin,
            "cos" => Func::Cos,
            "tan" | "tg" => Func::Tan,
            "cot" | "ctg" => Func::Cot,
            "sec" => Func::Sec,
            "csc" | "cosec" => Func::Csc,
            "arcsin" | "asin" => Func::Asin,
            "arccos" | "acos" => Func::Acos,
            "arctan" | "atan" => Func::Atan,
            "sinh" => Func::Sinh,
            "cosh" => Func::Cosh,
            "tanh" => Func::Tanh,
            "ln" => Func::Ln,
            "exp" => Func::Exp,
            "abs" => Func::Abs,
            _ => return None,
        })
    }
    fn apply(self, z: C) -> C {
        match self {
            Func::Sin => z.sin(),
            Func::Cos => z.cos(),
            Func::Tan => z.sin().div(z.cos()),
            Func::Cot => z.cos().div(z.sin()),
            Func::Sec => C::real(1.0).div(z.cos()),
            Func::Csc => C::real(1.0).div(z.sin()),
            Func::Asin => z.real_only(f64::asin),
            Func::Acos => z.real_only(f64::acos),
            Func::Atan => z.real_only(f64::atan),
            Func::Sinh => z.real_only(f64::sinh),
            Func::Cosh => z.real_only(f64::cosh),
            Func::Tanh => z.real_only(f64::tanh),
            Func::Ln => z.ln(),
            Func::Exp => z.exp(),
            Func::Abs => C::real(z.abs()),
            Func::Floor => z.real_only(f64::floor),
            Func::Ceil => z.real_only(f64::ceil),
        }
    }
}

/// An expression tree. Sums and products are n-ary to keep the tree shallow.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum Expr {
    /// A numeric literal; `true` when it was written with a decimal point (a float).
    Num(f64, bool),
    Const(Constant),
    Var(String),
    /// Terms with a flag "subtract this term".
    Sum(Vec<(bool, Expr)>),
    /// Factors with a flag "divide by this factor".
    Prod(Vec<(bool, Expr)>),
    Neg(Box<Expr>),
    Pow(Box<Expr>, Box<Expr>),
    Func(Func, Box<Expr>),
    /// `\sqrt[index]{radicand}`.
    Root(Box<Expr>, Box<Expr>),
    /// `\log_{base}(arg)`; natural log when the base is `None`.
    Log(Option<Box<Expr>>, Box<Expr>),
    Fact(Box<Expr>),
    Binom(Box<Expr>, Box<Expr>),
}

impl Expr {
    /// Free variables (everything but `\pi`, `e`, `i`, `\infty`).
    pub(crate) fn vars(&self, out: &mut BTreeSet<String>) {
        match self {
            Expr::Num(..) | Expr::Const(_) => {}
            Expr::Var(v) => {
                out.insert(v.clone());
            }
            Expr::Sum(xs) | Expr::Prod(xs) => xs.iter().for_each(|(_, x)| x.vars(out)),
            Expr::Neg(a) | Expr::Func(_, a) | Expr::Fact(a) | Expr::Log(None, a) => a.vars(out),
            Expr::Pow(a, b) | Expr::Root(a, b) | Expr::Binom(a, b) => {
                a.vars(out);
                b.vars(out);
            }
            Expr::Log(Some(a), b) => {
                a.vars(out);
                b.vars(out);
            }
        }
    }

    /// Whether a decimal (floating point) literal appears anywhere.
    pub(crate) fn has_float(&self) -> bool {
        match self {
            Expr::Num(_, f) => *f,
            Expr::Const(_) | Expr::Var(_) => false,
            Expr::Sum(xs) | Expr::Prod(xs) => xs.iter().any(|(_, x)| x.has_float()),
            Expr::Neg(a) | Expr::Func(_, a) | Expr::Fact(a) | Expr::Log(None, a) => a.has_float(),
            Expr::Pow(a, b) | Expr::Root(a, b) | Expr::Binom(a, b) => {
                a.has_float() || b.has_float()
            }
            Expr::Log(Some(a), b) => a.has_float() || b.has_float(),
        }
    }

    /// Evaluates at the given variable assignment (unknown variables are NaN).
    pub(crate) fn eval(&self, env: &[(String, C)]) -> C {
        match self {
            Expr::Num(v, _) => C::real(*v),
            Expr::Const(Constant::Pi) => C::real(std::f64::consts::PI),
            Expr::Const(Constant::E) => C::real(std::f64::consts::E),
            Expr::Const(Constant::I) => C { re: 0.0, im: 1.0 },
            Expr::Const(Constant::Infinity) => C::real(f64::INFINITY),
            Expr::Var(name) => env
                .iter()
                .find(|(n, _)| n == name)
                .map_or(C::NAN, |(_, v)| *v),
            Expr::Sum(xs) => xs.iter().fold(C::real(0.0), |acc, (neg, x)| {
                let v = x.eval(env);
                if *neg { acc.sub(v) } else { acc.add(v) }
            }),
            Expr::Prod(xs) => xs.iter().fold(C::real(1.0), |acc, (div, x)| {
                let v = x.eval(env);
                if *div { acc.div(v) } else { acc.mul(v) }
            }),
            Expr::Neg(a) => a.eval(env).neg(),
            Expr::Pow(a, b) => a.eval(env).pow(b.eval(env)),
            Expr::Func(f, a) => f.apply(a.eval(env)),
            Expr::Root(n, a) => {
                let (n, a) = (n.eval(env), a.eval(env));
                if n == C::real(2.0) {
                    return a.sqrt();
                }
                // Real odd root of a negative real: \sqrt[3]{-8} = -2.
                if n.is_real()
                    && a.is_real()
                    && a.re < 0.0
                    && n.re.fract() == 0.0
                    && n.re % 2.0 != 0.0
                {
                    return C::real(-(-a.re).powf(1.0 / n.re));
                }
                a.pow(C::real(1.0).div(n))
            }
            Expr::Log(base, a) => {
                let v = a.eval(env).ln();
                match base {
                    None => v,
                    Some(b) => v.div(b.eval(env).ln()),
                }
            }
            Expr::Fact(a) => {
                let v = a.eval(env);
                if !v.is_real() || v.re > MAX_FACTORIAL || (v.re < 0.0 && v.re.fract() == 0.0) {
                    return C::NAN;
                }
                if v.re >= 0.0 && v.re.fract() == 0.0 {
                    return C::real((1..=v.re as u32).fold(1.0, |acc, k| acc * f64::from(k)));
                }
                // Symbolic answers such as (2n)! are compared at non-integer points: Gamma.
                C::real(gamma(v.re + 1.0))
            }
            Expr::Binom(n, k) => {
                let (n, k) = (n.eval(env), k.eval(env));
                if !n.is_real()
                    || !k.is_real()
                    || k.re.fract() != 0.0
                    || k.re < 0.0
                    || k.re > MAX_FACTORIAL
                {
                    return C::NAN;
                }
                let mut acc = 1.0;
                for j in 0..k.re as u32 {
                    acc = acc * (n.re - f64::from(j)) / f64::from(j + 1);
                }
                C::real(acc)
            }
        }
    }
}

/// Why an expression did not parse. Only used internally: a failed parse falls back to a
/// string comparison.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ParseError {
    TooLong,
    TooDeep,
    Syntax,
}

#[derive(Clone, Debug, PartialEq)]
enum Tok {
    Num(String),
    Sym(String),
    Cmd(String),
    Op(char),
    Open(char),
    Close(char),
    Bar,
}

fn is_greek(name: &str) -> bool {
    matches!(
        name,
        "alpha"
            | "beta"
            | "gamma"
            | "delta"
            | "epsilon"
            | "varepsilon"
            | "zeta"
            | "eta"
            | "theta"
            | "vartheta"
            | "iota"
            | "kappa"
            | "lambda"
            | "mu"
            | "nu"
            | "xi"
            | "rho"
            | "sigma"
            | "tau"
            | "upsilon"
            | "phi"
            | "varphi"
            | "chi"
            | "psi"
            | "omega"
            | "Gamma"
            | "Delta"
            | "Theta"
            | "Lambda"
            | "Xi"
            | "Sigma"
            | "Phi"
            | "Psi"
            | "Omega"
    )
}

/// Words in plain text that name a function or constant rather than a product of letters.
pub(crate) fn is_word_command(word: &str) -> bool {
    Func::from_name(word).is_some() || matches!(word, "log" | "sqrt" | "pi" | "infty" | "inf")
}

fn lex(s: &str) -> Result<Vec<Tok>, ParseError> {
    let b = s.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        if out.len() > MAX_TOKENS {
            return Err(ParseError::TooLong);
        }
        let c = b[i];
        match c {
            b' ' | b'\t' | b'\n' | b'\r' => i += 1,
            b'0'..=b'9' | b'.' => {
                let start = i;
                while i < b.len() && b[i].is_ascii_digit() {
                    i += 1;
                }
                if i < b.len() && b[i] == b'.' {
                    i += 1;
                    while i < b.len() && b[i].is_ascii_digit() {
                        i += 1;
                    }
                }
                if i == start + 1 && c == b'.' {
                    return Err(ParseError::Syntax);
                }
                // Scientific notation 1.5e3 / 2E-4 (an `e` not followed by digits is Euler's).
                if i < b.len() && (b[i] == b'e' || b[i] == b'E') {
                    let mut j = i + 1;
                    if j < b.len() && (b[j] == b'+' || b[j] == b'-') {
                        j += 1;
                    }
                    if j < b.len() && b[j].is_ascii_digit() {
                        while j < b.len() && b[j].is_ascii_digit() {
                            j += 1;
                        }
                        i = j;
                    }
                }
                out.push(Tok::Num(s[start..i].to_string()));
            }
            b'a'..=b'z' | b'A'..=b'Z' => {
                let start = i;
                while i < b.len() && b[i].is_ascii_alphabetic() {
                    i += 1;
                }
                let word = &s[start..i];
                if word.len() > 1 && is_word_command(word) {
                    out.push(Tok::Cmd(word.to_string()));
                } else {
                    for ch in word.chars() {
                        out.push(Tok::Sym(ch.to_string()));
                    }
                    i = lex_subscript(s, i, &mut out)?;
                }
            }
            b'\\' => {
                i += 1;
                let start = i;
                while i < b.len() && b[i].is_ascii_alphabetic() {
                    i += 1;
                }
                if i == start {
                    // `\{`, `\|` and friends: not part of an expression.
                    return Err(ParseError::Syntax);
                }
                let name = &s[start..i];
                match name {
                    "lvert" | "rvert" | "vert" | "mid" => out.push(Tok::Bar),
                    "lfloor" => out.push(Tok::Open('⌊')),
                    "rfloor" => out.push(Tok::Close('⌊')),
                    "lceil" => out.push(Tok::Open('⌈')),
                    "rceil" => out.push(Tok::Close('⌈')),
                    _ if is_greek(name) => {
                        out.push(Tok::Sym(name.to_string()));
                        i = lex_subscript(s, i, &mut out)?;
                    }
                    _ => out.push(Tok::Cmd(name.to_string())),
                }
            }
            b'*' if b.get(i + 1) == Some(&b'*') => {
                out.push(Tok::Op('^'));
                i += 2;
            }
            b'+' | b'-' | b'*' | b'/' | b'^' | b'!' | b'_' => {
                out.push(Tok::Op(c as char));
                i += 1;
            }
            b'(' | b'[' | b'{' => {
                out.push(Tok::Open(c as char));
                i += 1;
            }
            b')' => {
                out.push(Tok::Close('('));
                i += 1;
            }
            b']' => {
                out.push(Tok::Close('['));
                i += 1;
            }
            b'}' => {
                out.push(Tok::Close('{'));
                i += 1;
            }
            b'|' => {
                out.push(Tok::Bar);
                i += 1;
            }
            _ => return Err(ParseError::Syntax),
        }
    }
    if out.len() > MAX_TOKENS {
        return Err(ParseError::TooLong);
    }
    Ok(out)
}

/// Folds a subscript (`a_1`, `x_{n}`, `x_{12}`) into the preceding symbol's name.
fn lex_subscript(s: &str, mut i: usize, out: &mut [Tok]) -> Result<usize, ParseError> {
    let b = s.as_bytes();
    if i >= b.len() || b[i] != b'_' {
        return Ok(i);
    }
    let Some(Tok::Sym(name)) = out.last_mut() else {
        return Ok(i);
    };
    i += 1;
    let sub = if i < b.len() && b[i] == b'{' {
        let start = i + 1;
        let end = s[start..].find('}').ok_or(ParseError::Syntax)? + start;
        if s[start..end].contains('{') {
            return Err(ParseError::Syntax);
        }
        i = end + 1;
        s[start..end].trim().to_string()
    } else if i < b.len() && b[i].is_ascii_alphanumeric() {
        i += 1;
        s[i - 1..i].to_string()
    } else {
        return Err(ParseError::Syntax);
    };
    name.push('_');
    name.push_str(&sub);
    Ok(i)
}

struct Parser {
    toks: Vec<Tok>,
    pos: usize,
    depth: usize,
}

type R = Result<Expr, ParseError>;

/// Parses a normalised answer into an expression tree.
pub(crate) fn parse(s: &str) -> R {
    let toks = lex(s)?;
    if toks.is_empty() {
        return Err(ParseError::Syntax);
    }
    let mut p = Parser {
        toks,
        pos: 0,
        depth: 0,
    };
    let e = p.sum()?;
    if p.pos != p.toks.len() {
        return Err(ParseError::Syntax);
    }
    Ok(e)
}

impl Parser {
    fn peek(&self) -> Option<&Tok> {
        self.toks.get(self.pos)
    }
    fn bump(&mut self) -> Option<Tok> {
        let t = self.toks.get(self.pos).cloned();
        self.pos += 1;
        t
    }
    fn eat(&mut self, t: &Tok) -> bool {
        if self.peek() == Some(t) {
            self.pos += 1;
            true
        } else {
            false
        }
    }
    fn expect(&mut self, t: &Tok) -> Result<(), ParseError> {
        if self.eat(t) {
            Ok(())
        } else {
            Err(ParseError::Syntax)
        }
    }
    fn enter(&mut self) -> Result<(), ParseError> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            Err(ParseError::TooDeep)
        } else {
            Ok(())
        }
    }
    fn leave(&mut self) {
        self.depth -= 1;
    }

    fn sum(&mut self) -> R {
        self.enter()?;
        let mut terms = vec![(false, self.product()?)];
        loop {
            match self.peek() {
                Some(Tok::Op('+')) => {
                    self.pos += 1;
                    terms.push((false, self.product()?));
                }
                Some(Tok::Op('-')) => {
                    self.pos += 1;
                    terms.push((true, self.product()?));
                }
                _ => break,
            }
        }
        self.leave();
        Ok(if terms.len() == 1 {
            terms.pop().map(|t| t.1).ok_or(ParseError::Syntax)?
        } else {
            Expr::Sum(terms)
        })
    }

    fn starts_primary(&self) -> bool {
        match self.peek() {
            Some(Tok::Num(_) | Tok::Sym(_) | Tok::Open(_)) => true,
            Some(Tok::Cmd(c)) => !matches!(c.as_str(), "cdot" | "times" | "div" | "pm" | "mp"),
            _ => false,
        }
    }

    fn product(&mut self) -> R {
        self.enter()?;
        let mut factors = vec![(false, self.unary()?)];
        loop {
            match self.peek() {
                Some(Tok::Op('*')) => {
                    self.pos += 1;
                    factors.push((false, self.unary()?));
                }
                Some(Tok::Cmd(c)) if c == "cdot" || c == "times" => {
                    self.pos += 1;
                    factors.push((false, self.unary()?));
                }
                Some(Tok::Op('/')) => {
                    self.pos += 1;
                    factors.push((true, self.unary()?));
                }
                Some(Tok::Cmd(c)) if c == "div" => {
                    self.pos += 1;
                    factors.push((true, self.unary()?));
                }
                _ if self.starts_primary() => factors.push((false, self.power()?)),
                _ => break,
            }
        }
        self.leave();
        Ok(if factors.len() == 1 && !factors[0].0 {
            factors.pop().map(|f| f.1).ok_or(ParseError::Syntax)?
        } else {
            Expr::Prod(factors)
        })
    }

    fn unary(&mut self) -> R {
        self.enter()?;
        let e = match self.peek() {
            Some(Tok::Op('-')) => {
                self.pos += 1;
                Expr::Neg(Box::new(self.unary()?))
            }
            Some(Tok::Op('+')) => {
                self.pos += 1;
                self.unary()?
            }
            _ => self.power()?,
        };
        self.leave();
        Ok(e)
    }

    fn power(&mut self) -> R {
        self.enter()?;
        let base = self.postfix()?;
        let e = if self.eat(&Tok::Op('^')) {
            let exp = self.exponent()?;
            let mut e = Expr::Pow(Box::new(base), Box::new(exp));
            while self.eat(&Tok::Op('!')) {
                e = Expr::Fact(Box::new(e));
            }
            e
        } else {
            base
        };
        self.leave();
        Ok(e)
    }

    /// The exponent after `^`: a braced group, or a signed power (right associative).
    /// Unlike TeX, `2^10` reads the whole number (plain-text answers mean 2^{10}).
    fn exponent(&mut self) -> R {
        self.enter()?;
        let e = match self.peek() {
            Some(Tok::Open('{')) => self.arg()?,
            Some(Tok::Op('-')) => {
                self.pos += 1;
                Expr::Neg(Box::new(self.exponent()?))
            }
            _ => self.power()?,
        };
        self.leave();
        Ok(e)
    }

    fn postfix(&mut self) -> R {
        let mut e = self.primary()?;
        while self.eat(&Tok::Op('!')) {
            e = Expr::Fact(Box::new(e));
        }
        Ok(e)
    }

    /// A TeX argument: `{...}` or a single token (`\frac12` reads `1` and `2`).
    fn arg(&mut self) -> R {
        self.enter()?;
        let e = match self.peek().cloned() {
            Some(Tok::Open('{')) => {
                self.pos += 1;
                let e = self.sum()?;
                self.expect(&Tok::Close('{'))?;
                e
            }
            Some(Tok::Num(n)) if n.len() > 1 && n.bytes().all(|c| c.is_ascii_digit()) => {
                // Take one digit and leave the rest for the next argument.
                let (first, rest) = n.split_at(1);
                let v = first.parse::<f64>().map_err(|_| ParseError::Syntax)?;
                self.toks[self.pos] = Tok::Num(rest.to_string());
                Expr::Num(v, false)
            }
            _ => self.primary()?,
        };
        self.leave();
        Ok(e)
    }

    fn number(n: &str) -> R {
        let v: f64 = n.parse().map_err(|_| ParseError::Syntax)?;
        Ok(Expr::Num(v, n.contains(['.', 'e', 'E'])))
    }

    /// `\frac{int}{int}` right after an integer: a mixed number, `2\frac{1}{2}` = 5/2.
    fn mixed_fraction(&mut self) -> Option<(f64, f64)> {
        let t = &self.toks;
        let p = self.pos;
        let int = |t: Option<&Tok>| match t {
            Some(Tok::Num(n)) if n.bytes().all(|c| c.is_ascii_digit()) => n.parse::<f64>().ok(),
            _ => None,
        };
        if t.get(p) != Some(&Tok::Cmd("frac".into()))
            || t.get(p + 1) != Some(&Tok::Open('{'))
            || t.get(p + 3) != Some(&Tok::Close('{'))
            || t.get(p + 4) != Some(&Tok::Open('{'))
            || t.get(p + 6) != Some(&Tok::Close('{'))
        {
            return None;
        }
        let (a, b) = (int(t.get(p + 2))?, int(t.get(p + 5))?);
        if b == 0.0 || a >= b {
            return None;
        }
        self.pos += 7;
        Some((a, b))
    }

    fn primary(&mut self) -> R {
        self.enter()?;
        let tok = self.bump().ok_or(ParseError::Syntax)?;
        let e = match tok {
            Tok::Num(n) => {
                let v = Self::number(&n)?;
                match (&v, self.mixed_fraction()) {
                    (Expr::Num(w, false), Some((a, b))) => Expr::Num(w + a / b, false),
                    _ => v,
                }
            }
            Tok::Sym(s) => match s.as_str() {
                "e" => Expr::Const(Constant::E),
                "i" => Expr::Const(Constant::I),
                _ => Expr::Var(s),
            },
            Tok::Open(c) => {
                let e = self.sum()?;
                match c {
                    '⌊' => {
                        self.expect(&Tok::Close('⌊'))?;
                        Expr::Func(Func::Floor, Box::new(e))
                    }
                    '⌈' => {
                        self.expect(&Tok::Close('⌈'))?;
                        Expr::Func(Func::Ceil, Box::new(e))
                    }
                    _ => {
                        self.expect(&Tok::Close(c))?;
                        e
                    }
                }
            }
            Tok::Bar => {
                let e = self.sum()?;
                self.expect(&Tok::Bar)?;
                Expr::Func(Func::Abs, Box::new(e))
            }
            Tok::Cmd(c) => self.command(&c)?,
            Tok::Op(_) | Tok::Close(_) => return Err(ParseError::Syntax),
        };
        self.leave();
        Ok(e)
    }

    fn command(&mut self, c: &str) -> R {
        Ok(match c {
            "frac" | "cfrac" => {
                let a = self.arg()?;
                let b = self.arg()?;
                Expr::Prod(vec![(false, a), (true, b)])
            }
            "binom" | "choose" => {
                let a = self.arg()?;
                let b = self.arg()?;
                Expr::Binom(Box::new(a), Box::new(b))
            }
            "sqrt" => {
                let index = if self.eat(&Tok::Open('[')) {
                    let n = self.sum()?;
                    self.expect(&Tok::Close('['))?;
                    n
                } else {
                    Expr::Num(2.0, false)
                };
                let a = self.arg()?;
                Expr::Root(Box::new(index), Box::new(a))
            }
            "pi" => Expr::Const(Constant::Pi),
            "infty" | "inf" => Expr::Const(Constant::Infinity),
            "log" | "lg" => {
                let base = if self.eat(&Tok::Op('_')) {
                    Some(Box::new(self.arg()?))
                } else {
                    None
                };
                let (pow, a) = self.func_arg()?;
                let e = Expr::Log(base, Box::new(a));
                match pow {
                    Some(p) => Expr::Pow(Box::new(e), Box::new(p)),
                    None => e,
                }
            }
            _ => {
                let f = Func::from_name(c).ok_or(ParseError::Syntax)?;
                let (pow, a) = self.func_arg()?;
                let e = Expr::Func(f, Box::new(a));
                match pow {
                    Some(p) => Expr::Pow(Box::new(e), Box::new(p)),
                    None => e,
                }
            }
        })
    }

    /// The argument of `\sin`: `\sin^2 x` = (sin x)^2, `\sin 2x` = sin(2x), `\sin(x)`.
    fn func_arg(&mut self) -> Result<(Option<Expr>, Expr), ParseError> {
        let pow = if self.eat(&Tok::Op('^')) {
            Some(self.arg()?)
        } else {
            None
        };
        let mut factors = vec![(false, self.power()?)];
        // Implicit products continue the argument, but another function starts a new factor.
        while self.starts_primary()
            && !matches!(self.peek(), Some(Tok::Cmd(c)) if Func::from_name(c).is_some() || c == "log")
        {
            factors.push((false, self.power()?));
        }
        let a = if factors.len() == 1 {
            factors.pop().map(|f| f.1).ok_or(ParseError::Syntax)?
        } else {
            Expr::Prod(factors)
        };
        Ok((pow, a))
    }
}

/// Deterministic sample point in [0.5, 3.0) for variable `var` at round `k`.
fn sample(k: u64, var: u64) -> f64 {
    // splitmix64
    let mut z = k
        .wrapping_mul(0x9E37_79B9_7F4A_7C15)
        .wrapping_add(var.wrapping_mul(0xBF58_476D_1CE4_E5B9))
        .wrapping_add(0x94D0_49BB_1331_11EB);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^= z >> 31;
    0.5 + 2.5 * ((z >> 11) as f64 / (1u64 << 53) as f64)
}

/// How two expressions must relate to count as equal.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Relation {
    /// `a == b` everywhere.
    Equal,
    /// `a == k * b` for one non-zero constant `k` (two equations of the same curve).
    Proportional,
    /// `a == k * b` for one positive constant `k` (two inequalities `b > 0` of the same
    /// region).
    PositiveMultiple,
}

/// Number of sample points for expressions with variables.
const POINTS: u64 = 8;
/// Minimum number of points where both sides must be defined.
const MIN_VALID: usize = 3;

/// Compares two expressions numerically: once if both are constants, at [`POINTS`]
/// pseudo-random points otherwise. `tol` is relative (absolute below 1).
pub(crate) fn compare(a: &Expr, b: &Expr, tol: f64, rel: Relation) -> bool {
    let mut vars = BTreeSet::new();
    a.vars(&mut vars);
    b.vars(&mut vars);
    if vars.is_empty() && rel == Relation::Equal {
        return approx_eq(a.eval(&[]), b.eval(&[]), tol);
    }
    if vars.len() > 12 {
        return false;
    }
    let mut valid = 0;
    let mut ratio: Option<C> = None;
    for k in 0..POINTS {
        let env: Vec<(String, C)> = vars
            .iter()
            .enumerate()
            .map(|(j, v)| (v.clone(), C::real(sample(k, j as u64))))
            .collect();
        let (va, vb) = (a.eval(&env), b.eval(&env));
        match (va.is_finite(), vb.is_finite()) {
            (true, true) => {}
            (false, false) => continue,
            _ => return false,
        }
        valid += 1;
        match rel {
            Relation::Equal => {
                if !approx_eq(va, vb, tol) {
                    return false;
                }
            }
            Relation::Proportional | Relation::PositiveMultiple => {
                if vb.abs() < 1e-9 {
                    if va.abs() > 1e-6 {
                        return false;
                    }
                    continue;
                }
                let r = va.div(vb);
                match ratio {
                    None => ratio = Some(r),
                    Some(r0) => {
                        if !approx_eq(r, r0, tol) {
                            return false;
                        }
                    }
                }
            }
        }
    }
    valid >= MIN_VALID
        && match rel {
            Relation::Equal => true,
            Relation::Proportional => ratio.is_some_and(|r| r.abs() > 1e-9),
            Relation::PositiveMultiple => ratio.is_some_and(|r| r.is_real() && r.re > 1e-9),
        }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn val(s: &str) -> C {
        parse(s).map(|e| e.eval(&[])).unwrap_or(C::NAN)
    }

    #[test]
    fn evaluates_latex() {
        let cases = [
            ("\\frac{1}{2}", 0.5),
            ("\\frac12", 0.5),
            ("\\frac1{2}", 0.5),
            ("2\\sqrt{3}", 2.0 * 3f64.sqrt()),
            ("\\sqrt[3]{-8}", -2.0),
            ("2^{10}", 1024.0),
            ("2^10", 1024.0),
            ("-2^2", -4.0),
            ("(-2)^3", -8.0),
            ("\\log_2 8", 3.0),
            ("5!", 120.0),
            ("\\binom{5}{2}", 10.0),
            ("1.5e3", 1500.0),
            ("3/4", 0.75),
            ("2\\frac{1}{2}", 2.5),
            ("\\pi", std::f64::consts::PI),
            ("\\sin^2 x", f64::NAN),
            ("|-3|", 3.0),
            ("\\lfloor 2.7 \\rfloor", 2.0),
            ("2**3", 8.0),
            ("\\frac{\\sqrt{2}}{2}", std::f64::consts::FRAC_1_SQRT_2),
        ];
        for (s, want) in cases {
            let got = val(s);
            if want.is_nan() {
                assert!(!got.is_finite(), "{s}");
            } else {
                assert!(
                    approx_eq(got, C::real(want), 1e-12),
                    "{s}: {got:?} != {want}"
                );
            }
        }
    }

    #[test]
    fn complex_unit() {
        assert!(approx_eq(val("i^2"), C::real(-1.0), 1e-12));
        assert!(approx_eq(val("\\sqrt{-4}"), C { re: 0.0, im: 2.0 }, 1e-12));
    }

    #[test]
    fn symbolic_comparison() {
        let eq = |a: &str, b: &str| {
            compare(
                &parse(a).unwrap(),
                &parse(b).unwrap(),
                1e-9,
                Relation::Equal,
            )
        };
        assert!(eq("(x+1)^2", "x^2+2x+1"));
        assert!(eq("\\frac{x^2-1}{x-1}", "x+1"));
        assert!(!eq("x^2", "x^3"));
        assert!(eq("\\sin^2 x + \\cos^2 x", "1"));
        assert!(eq("a_1 + b", "b + a_{1}"));
        assert!(!eq("x", "y"));
    }

    #[test]
    fn bounded() {
        let deep = "(".repeat(500) + "1" + &")".repeat(500);
        assert!(parse(&deep).is_err());
        let long = "1+".repeat(1000) + "1";
        assert_eq!(parse(&long), Err(ParseError::TooLong));
        assert!(!val("10^{10^{10}}").is_finite());
        assert!(!val("1000!").is_finite());
    }
}
