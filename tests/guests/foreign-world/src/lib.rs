//! Test guest: a well-formed component of some other world, which nethook
//! must refuse to load as a hook.
wit_bindgen::generate!({
    inline: "
        package acme:widgets@1.0.0;
        world plugin {
            export greet: func(name: string) -> string;
        }
    ",
});

struct Plugin;

impl Guest for Plugin {
    fn greet(name: String) -> String {
        format!("hello {name}")
    }
}

export!(Plugin);
