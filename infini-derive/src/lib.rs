//! `#[derive(Index)]` for infini: implements `infini::engine::fields::Index` for a struct whose fields are infini
//! fields, so the struct is the schema of what a commit stores. Use it through the re-export, `infini::Index`.
//!
//! - Each field is persisted under its Rust name, or under `#[infini(name = "...")]` (keep the stored name when
//!   renaming the Rust field).
//! - `#[infini(skip)]` leaves a field out: it is not persisted, and an index loaded from storage has it as
//!   `Default` gives it (the struct must implement `Default`, as every index loaded by `Infinitree` does).
//! - `#[infini(strategy = "path::to::Strategy")]` (or `strategy = path::to::Strategy`) on a `VersionedMap` or
//!   `Map` field stores its values with that strategy, as the field's type parameter would: the seed's spelling.
//! - The derive also adds `FIELD_NAMES`, the stored names in declaration order.

use proc_macro::TokenStream;
use proc_macro2::Span;
use quote::quote;
use syn::{parse_macro_input, Data, DeriveInput, Error, Fields, LitStr};

/// Implement `Index` for a struct of named fields. See the crate docs for `#[infini(name = "...")]` and
/// `#[infini(skip)]`.
#[proc_macro_derive(Index, attributes(infini))]
pub fn derive_index(input: TokenStream) -> TokenStream {
    let input = parse_macro_input!(input as DeriveInput);
    expand(input).unwrap_or_else(Error::into_compile_error).into()
}

struct FieldSpec {
    ident: syn::Ident,
    name: String,
    span: Span,
    strategy: Option<syn::Path>,
}

fn expand(input: DeriveInput) -> syn::Result<proc_macro2::TokenStream> {
    let Data::Struct(data) = &input.data else {
        return Err(Error::new_spanned(&input.ident, "#[derive(Index)] needs a struct with named fields"));
    };
    let Fields::Named(named) = &data.fields else {
        return Err(Error::new_spanned(&input.ident, "#[derive(Index)] needs a struct with named fields"));
    };
    let mut specs: Vec<FieldSpec> = Vec::new();
    for f in &named.named {
        let ident = f.ident.clone().expect("named fields have names");
        let mut name = ident.to_string();
        let mut skip = false;
        let mut strategy = None;
        for attr in f.attrs.iter().filter(|a| a.path().is_ident("infini")) {
            attr.parse_nested_meta(|meta| {
                if meta.path.is_ident("skip") {
                    skip = true;
                    Ok(())
                } else if meta.path.is_ident("name") {
                    let lit: LitStr = meta.value()?.parse()?;
                    if lit.value().is_empty() {
                        return Err(meta.error("a field's stored name must not be empty"));
                    }
                    name = lit.value();
                    Ok(())
                } else if meta.path.is_ident("strategy") {
                    let value = meta.value()?;
                    // The seed writes the path as a string; a bare path works too.
                    let path: syn::Path =
                        if value.peek(LitStr) { value.parse::<LitStr>()?.parse()? } else { value.parse()? };
                    strategy = Some(path);
                    Ok(())
                } else {
                    Err(meta.error("expected `name = \"...\"`, `strategy = \"...\"` or `skip`"))
                }
            })?;
        }
        if skip {
            continue;
        }
        if let Some(prev) = specs.iter().find(|s| s.name == name) {
            let mut e = Error::new_spanned(f, format!("two fields are stored as {name:?}"));
            e.combine(Error::new(prev.span, "first stored here"));
            return Err(e);
        }
        specs.push(FieldSpec { span: syn::spanned::Spanned::span(f), ident, name, strategy });
    }
    let ty = &input.ident;
    let (impl_generics, ty_generics, where_clause) = input.generics.split_for_impl();
    let idents = specs.iter().map(|s| &s.ident);
    let names: Vec<&String> = specs.iter().map(|s| &s.name).collect();
    let choices = specs.iter().filter_map(|s| {
        let ident = &s.ident;
        s.strategy.as_ref().map(|path| {
            quote! { ::infini::__derive::ChooseStrategy::choose_strategy::<#path>(&self.#ident); }
        })
    });
    Ok(quote! {
        #[automatically_derived]
        impl #impl_generics ::infini::__derive::Index for #ty #ty_generics #where_clause {
            fn fields(&self) -> ::std::vec::Vec<(&'static str, &dyn ::infini::__derive::Field)> {
                #(#choices)*
                ::std::vec![#((#names, &self.#idents as &dyn ::infini::__derive::Field)),*]
            }
        }

        #[automatically_derived]
        impl #impl_generics #ty #ty_generics #where_clause {
            /// The names this index's fields are stored under, in declaration order (skipped fields left out).
            pub const FIELD_NAMES: &'static [&'static str] = &[#(#names),*];
        }
    })
}
