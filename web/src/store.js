// The browser's storage (IndexedDB) for what a person keeps across visits:
// their labelled drawings and the model they fine-tuned, trained or loaded.
const DB = "purenet";
const VERSION = 1;

const done = (request) =>
  new Promise((resolve, reject) => {
    request.onsuccess = () => resolve(request.result);
    request.onerror = () => reject(request.error);
  });

export class Store {
  async open() {
    const request = indexedDB.open(DB, VERSION);
    request.onupgradeneeded = () => {
      const db = request.result;
      db.createObjectStore("drawings", { keyPath: "key", autoIncrement: true });
      db.createObjectStore("model");
    };
    this.db = await done(request);
  }
  store(name, mode = "readonly") {
    if (!this.db) throw new Error("storage unavailable");
    return this.db.transaction(name, mode).objectStore(name);
  }
  async addDrawing(item) {
    const { key, ...rest } = item;
    return done(this.store("drawings", "readwrite").add(rest));
  }
  allDrawings() {
    return done(this.store("drawings").getAll());
  }
  clearDrawings() {
    return done(this.store("drawings", "readwrite").clear());
  }
  getModel() {
    return done(this.store("model").get("current"));
  }
  putModel(record) {
    return done(this.store("model", "readwrite").put(record, "current"));
  }
  deleteModel() {
    return done(this.store("model", "readwrite").delete("current"));
  }
}
