"""What rtstyle knows about the paintings in ../shared/data/styles (see its SOURCES.md).

Only used to fill a trained style's card; training any other image works too.
"""
PAINTINGS: dict[str, dict[str, str]] = {
    "starry": {"painting": "The Starry Night", "artist": "Vincent van Gogh", "year": "1889"},
    "wave": {"painting": "The Great Wave off Kanagawa", "artist": "Katsushika Hokusai", "year": "c. 1830-32"},
    "scream": {"painting": "The Scream", "artist": "Edvard Munch", "year": "1893"},
    "composition": {"painting": "Composition VII", "artist": "Wassily Kandinsky", "year": "1913"},
    "udnie": {"painting": "Udnie", "artist": "Francis Picabia", "year": "1913"},
    "shipwreck": {"painting": "The Shipwreck of the Minotaur", "artist": "J. M. W. Turner", "year": "c. 1805-10"},
    "seurat": {"painting": "A Sunday Afternoon on the Island of La Grande Jatte", "artist": "Georges Seurat",
               "year": "1884-86"},
    "kiss": {"painting": "The Kiss", "artist": "Gustav Klimt", "year": "1907-08"},
    "sunrise": {"painting": "Impression, Sunrise", "artist": "Claude Monet", "year": "1872"},
    "temeraire": {"painting": "The Fighting Temeraire", "artist": "J. M. W. Turner", "year": "1839"},
}
